"""The workers' Celery consumer: Celery's own, surviving a broker that dies mid-delivery.

When the Redis connection is lost, Celery 5.7's consumer first collects the connection
(kombu releases the transport: `transport.client = None`) and then closes it. Closing the
default channel restores its unacknowledged messages (our tasks are `acks_late`, so a busy
worker always holds some), and that needs the transport's client: `AttributeError: 'NoneType'
object has no attribute 'hostname'` in kombu's Redis transport (`Channel._connparams`).
`ignore_errors` lets only connection errors through, so the worker stopped with
"Unrecoverable error" and nothing paged again until something restarted it (the chaos rig,
docs/reliability.md, finding 4).

The consumer here lets that one error of that one close go: the connection is already
detached (`self.connection` is None by then), and Celery goes on to reconnect. The messages it
could not restore are lost with the Redis that died, or come back from Redis's unacked set;
what they would have done is in PostgreSQL, and the sweepers do it (docs/operations.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from celery.worker.consumer import Consumer as CeleryConsumer

logger = logging.getLogger(__name__)


class Consumer(CeleryConsumer):
    @property
    def ack_errors(self) -> tuple[type[BaseException], ...]:
        """What acknowledging (or rejecting) a task's message may raise without stopping the
        worker: the connection's errors, and kombu's AttributeError when the message came on
        a connection that was lost since. A delivery held up while Redis died and came back
        acknowledges on the old channel, whose transport kombu released: "Unrecoverable
        error: AttributeError('NoneType' object has no attribute 'hostname')" (the chaos rig,
        after finding 4's fix). Logged instead ("Couldn't ack"): the message died with that
        Redis, and the task's work is committed."""
        errors: tuple[type[BaseException], ...] = self.connection_errors  # type: ignore[has-type]
        return (*errors, AttributeError)

    def update_strategies(self) -> None:
        # Celery's strategies hand `connection_errors` to each task request, which acks with
        # them; only there are they widened.
        errors = self.connection_errors  # type: ignore[has-type]
        self.connection_errors = self.ack_errors
        try:
            super().update_strategies()
        finally:
            self.connection_errors = errors

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        connection = self.connection
        if connection is not None:
            connection.close = partial(_close_detached, connection.close)  # type: ignore[method-assign]
        super().on_connection_error_after_connected(exc)


def _close_detached(close: Callable[[], None]) -> None:
    try:
        close()
    except AttributeError:
        logger.warning("closing the lost broker connection failed (kombu); reconnecting")
