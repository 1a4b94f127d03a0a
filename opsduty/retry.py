"""Run a transaction again when PostgreSQL chose it as a deadlock victim or a serialization
failure (SQLSTATE 40P01, 40001), instead of answering 500 or dropping a worker's work.

The locks are taken in one order everywhere (docs/architecture.md, "Locking order"), so a
deadlock between our own transactions should not happen; this is the safety net for what
that order does not cover (another process, a future query). Whoever gets the error lost
nothing: PostgreSQL rolled its whole transaction back, so running it again is safe and is
what the PostgreSQL manual asks of applications.

Only an outermost transaction can be run again: inside an `atomic` block the outer
transaction is already aborted, so the error goes up to whoever opened it (which may be
wrapped itself). Bounded attempts, exponential back-off with full jitter (tenacity), one
warning per retry naming the function and the SQLSTATE, never its arguments.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, connection
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

logger = logging.getLogger(__name__)

ATTEMPTS = 5
# Full jitter: 0..20 ms before the first retry, doubling up to 0.5 s (at most ~1 s in all).
WAIT = wait_random_exponential(multiplier=0.02, max=0.5)
_NAMES = {"40P01": "deadlock", "40001": "serialization failure"}

P = ParamSpec("P")
R = TypeVar("R")


def conflict_sqlstate(error: BaseException) -> str | None:
    """'40P01' or '40001' when `error` (or what it wraps) is a lost lock race, else None."""
    seen: BaseException | None = error
    while seen is not None:
        state = getattr(seen, "sqlstate", None)
        if state in _NAMES:
            return str(state)
        seen = seen.__cause__ or seen.__context__
    return None


def _retryable(error: BaseException) -> bool:
    return isinstance(error, DatabaseError) and conflict_sqlstate(error) is not None


def _log_retry(name: str) -> Callable[[RetryCallState], None]:
    def log(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        sqlstate = conflict_sqlstate(error) if error is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "%s lost a %s (SQLSTATE %s); running it again (attempt %d of %d) in %.0f ms",
            name,
            _NAMES.get(sqlstate or "", "lock race"),
            sqlstate,
            state.attempt_number + 1,
            ATTEMPTS,
            wait * 1000,
        )

    return log


def run_retrying_conflicts(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Call `fn` (which opens its own transaction), again on a deadlock or serialization
    failure, up to ATTEMPTS times; the last error goes up. Inside an atomic block: once."""
    if connection.in_atomic_block:
        return fn(*args, **kwargs)
    retrying = Retrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(ATTEMPTS),
        wait=WAIT,
        before_sleep=_log_retry(getattr(fn, "__qualname__", repr(fn))),
        reraise=True,
    )
    return retrying(fn, *args, **kwargs)


def retrying_conflicts(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of `run_retrying_conflicts` (for tasks and views)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return run_retrying_conflicts(fn, *args, **kwargs)

    return wrapper
