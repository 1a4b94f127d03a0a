"""Every request that claims to come from Slack is checked with the SDK's
`SignatureVerifier` (invariant 8): the `X-Slack-Signature` over the raw body with our signing
secret, and the 5-minute window of `X-Slack-Request-Timestamp` (a replayed request is
refused). There is no bypass, in DEBUG or otherwise; without a signing secret nothing is
accepted. The workspace is the one the payload names (`team_id`); a workspace we do not
know answers 200 with nothing done, as Slack expects of an app that was removed. Past
`OPSDUTY_RATE_PROVIDER_CALLBACK` requests per client IP, 429 with `Retry-After`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.signature import SignatureVerifier

from opsduty.ratelimit import by_ip, rate_limited

View = Callable[..., HttpResponseBase]

__all__ = ["slack_signed"]


def _forbidden(reason: str) -> HttpResponse:
    return HttpResponse(reason, status=403, content_type="text/plain")


def signature_valid(body: bytes, headers: Any) -> bool:
    """Whether `body` was signed by Slack with our signing secret within the last 5 minutes."""
    secret = settings.OPSDUTY_SLACK_SIGNING_SECRET
    if not secret:
        return False
    try:
        return SignatureVerifier(secret).is_valid_request(body, dict(headers))
    except (ValueError, TypeError):  # a timestamp that is not a number
        return False


def slack_signed(view: View) -> View:
    """Run `view(request, ...)` only for a POST that Slack signed."""

    @csrf_exempt
    @require_POST
    @rate_limited("provider_callback", key=by_ip)  # Slack's requests carry no key in the URL
    @wraps(view)
    def checked(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        if not settings.OPSDUTY_SLACK_SIGNING_SECRET:
            return _forbidden("Slack is not configured here (OPSDUTY_SLACK_SIGNING_SECRET).")
        if not signature_valid(request.body, request.headers):
            return _forbidden("Bad or stale signature.")
        return view(request, **kwargs)

    return checked
