"""The public heartbeat check-in (spec §2.3 P): `/heartbeats/checkin/<key>/[<environment>/]`.

No authentication (the unguessable `public_primary_key` is the credential) and no CSRF.
GET, HEAD and POST all record a check-in; the forms without the trailing slash are served too,
because a redirect would be followed by requests but not by every cron one-liner. Answers are
small JSON bodies: 200 on success, 404 with `CheckinNotFound`'s message, 405 for other
methods, 429 with `Retry-After` past the per-heartbeat limit (`OPSDUTY_RATE_HEARTBEAT_CHECKIN`,
counted in Redis before the database is read: opsduty/ratelimit.py), and 503 when the
database is unavailable, never with `Retry-After` (the opsduty-python library would sleep
that long before retrying, spec §5.2).
"""

from __future__ import annotations

import logging
from ipaddress import ip_address

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from opsduty.ratelimit import by_kwarg, rate_limited
from signals.heartbeats.services import CheckinNotFound, checkin, checkin_state_public

logger = logging.getLogger(__name__)

METHODS = ("GET", "HEAD", "POST")


def _answer(body: dict[str, str], status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def client_ip(request: HttpRequest) -> str | None:
    """The peer address, if it is an IP (a unix socket peer is not).

    REMOTE_ADDR: under `make run` uvicorn fills the ASGI client, which a2wsgi passes on,
    from `X-Forwarded-For` when the peer is a trusted proxy (`--forwarded-allow-ips`,
    127.0.0.1 by default); Django itself never reads forwarding headers.
    """
    value = str(request.META.get("REMOTE_ADDR") or "")
    try:
        return str(ip_address(value))
    except ValueError:
        return None


@csrf_exempt
@rate_limited("heartbeat_checkin", key=by_kwarg("key"))
def heartbeat_checkin(
    request: HttpRequest, key: str, environment: str | None = None
) -> JsonResponse:
    """Record a check-in of heartbeat `key` (its only environment, or `environment`)."""
    if request.method not in METHODS:
        response = _answer(
            {"detail": f"Method “{request.method}” not allowed: use GET, HEAD or POST."}, 405
        )
        response["Allow"] = ", ".join(METHODS)
        return response
    try:
        state = checkin_state_public(key, environment)
        checkin(
            state=state,
            source_ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    except CheckinNotFound as exc:
        return _answer({"detail": str(exc)}, 404)
    except DatabaseError:
        logger.exception("heartbeat check-in failed: database unavailable")
        return _answer({"detail": "Temporarily unavailable, try again."}, 503)
    return _answer({"detail": "Check-in received.", "environment": state.environment})


@csrf_exempt
def heartbeat_checkin_unmatched(request: HttpRequest) -> JsonResponse:
    """Any other path under `heartbeats/checkin/` (an empty key, a line break in the
    environment): the JSON 404 a check-in client reads, not the HTML page."""
    return _answer({"detail": "Use /heartbeats/checkin/<key>/ or /<key>/<environment>/."}, 404)
