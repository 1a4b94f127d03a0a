"""Worker start-up: pay the one-off costs before the first task instead of during it.

Without this, the first event a fresh worker process handles after a deploy or restart was
paged hundreds of milliseconds later than the next ones: the modules that the pipeline and
the engine import lazily, the built-in templates compiled by the Jinja sandbox, the broker
transport and producer pool, and the database connection.
"""

from __future__ import annotations

import importlib
import logging

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


def worker_main_warm_up() -> None:
    """In the worker's main process, before it forks: what every child would do first.

    Imports and compiled templates are plain memory, inherited by the forked children.
    """
    from opsduty.celery import app
    from processing.channels.builtin_templates import BUILTIN_TEMPLATES
    from processing.sandbox.environment import SandboxError, template_check

    app.loader.import_default_modules()  # every tasks module (Celery's autodiscovery)
    for name in HOT_MODULES:
        importlib.import_module(name)
    for templates in BUILTIN_TEMPLATES.values():
        for source in templates.values():
            if source:
                try:
                    template_check(source)  # compiles and caches it
                except SandboxError:  # the template tests catch these; never stop a worker
                    logger.exception("built-in template does not compile")


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
