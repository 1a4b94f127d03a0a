"""`/healthz`: liveness and readiness of the web process and its PostgreSQL and Redis."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


def _check_postgres() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return bool(cursor.fetchone() == (1,))
    except Exception:
        logger.exception("healthz: PostgreSQL check failed")
        return False


def _check_redis() -> bool:
    try:
        client = cache._cache.get_client()  # type: ignore[attr-defined]
        return bool(client.ping())
    except Exception:
        logger.exception("healthz: Redis check failed")
        return False


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when PostgreSQL and Redis answer, 503 (naming the failing part) otherwise."""
    checks = {"postgres": _check_postgres(), "redis": _check_redis()}
    healthy = all(checks.values())
    body = {"status": "ok" if healthy else "unavailable"}
    body.update({name: "ok" if ok else "unavailable" for name, ok in checks.items()})
    return JsonResponse(body, status=200 if healthy else 503)
