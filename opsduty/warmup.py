"""Worker start-up: pay the one-off costs before the first task instead of during it.

Without this, the first event a fresh worker process handles after a deploy or restart was
paged hundreds of milliseconds later than the next ones: the modules that the pipeline and
the engine import lazily, the built-in templates compiled by the Jinja sandbox, the broker
transport and producer pool, and the database connection.

Web processes (`web_warm_up`, from opsduty/asgi.py and opsduty/wsgi.py) resolve the URLconf
and then take what start-up made out of the garbage collector's way.
"""

from __future__ import annotations

import gc
import importlib
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Imported inside functions on the hot path (to keep module import graphs acyclic).
HOT_MODULES = (
    "escalations.engine.opening",
    "escalations.engine.services",
    "escalations.notifications.services",
    "escalations.notifications.providers.email",
    "escalations.notifications.providers.not_configured",
    "incidents.ingest.drain",
    "incidents.ingest.services",
    "incidents.services",
    "processing.pipeline.steps",
    "signals.heartbeats.services",
)


# Apps add their own one-off work (processing: compiling the built-in templates) in their
# AppConfig.ready; the core imports no app.
_main_warm_ups: list[Callable[[], None]] = []


def main_warm_up_register(warm_up: Callable[[], None]) -> None:
    """Run `warm_up` in the worker's main process before it forks (idempotent)."""
    if warm_up not in _main_warm_ups:
        _main_warm_ups.append(warm_up)


def worker_main_warm_up() -> None:
    """In the worker's main process, before it forks: what every child would do first.

    Imports and compiled templates are plain memory, inherited by the forked children.
    """
    from opsduty.celery import app

    app.loader.import_default_modules()  # every tasks module (Celery's autodiscovery)
    for name in HOT_MODULES:
        importlib.import_module(name)
    for warm_up in _main_warm_ups:
        try:
            warm_up()
        except Exception:  # a warm-up never stops a worker: the first task pays instead
            logger.exception("warm-up %s failed", getattr(warm_up, "__name__", warm_up))


def worker_child_warm_up() -> None:
    """In each pool process after the fork: its own broker and database connections."""
    from django.db import connection

    from opsduty.celery import app

    try:
        with app.producer_or_acquire():
            pass
        connection.ensure_connection()
    except Exception:  # noqa: BLE001 - the first task connects (and reports) instead
        logger.warning("worker warm-up could not connect; the first task will", exc_info=True)


def web_warm_up() -> None:
    """In a web process, before its first request: the URLconf resolved and the base template
    compiled, then every object made so far frozen (`gc.freeze`: kept, never scanned again).

    A full collection walked the ~180,000 objects of the modules and settings: 90-100 ms,
    once every 60 or so requests of a list page, which was the whole p99 of the incident
    list (docs/performance.md, "Read paths at 100,000 incidents"). Frozen, it takes 7 ms.
    """
    from django.template.loader import get_template
    from django.urls import get_resolver

    try:
        get_resolver().reverse_dict  # noqa: B018 - resolves every URLconf now
        get_template("base.html")
    except Exception:  # a warm-up never stops a server: the first request pays instead
        logger.exception("web warm-up failed")
    gc.freeze()
