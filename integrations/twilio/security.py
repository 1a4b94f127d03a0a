"""Every request that claims to come from Twilio is checked with the SDK's `RequestValidator`
(invariant 8): the `X-Twilio-Signature` over the public URL Twilio called (so it works behind
a TLS proxy: `OPSDUTY_PUBLIC_URL`, not the address the proxy forwarded to) and the form
parameters, with the auth token of the account named by the URL's key. Anything else
answers 403 and changes nothing. Past `OPSDUTY_RATE_PROVIDER_CALLBACK` requests per account
key, 429 with `Retry-After` (Twilio retries), counted in Redis before the account is read."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from integrations.twilio.models import TwilioAccount
from integrations.twilio.selectors import public_url
from opsduty.ratelimit import by_kwarg, rate_limited

View = Callable[..., HttpResponseBase]


class TwilioRequest(HttpRequest):
    twilio_account: TwilioAccount


def _forbidden(reason: str) -> HttpResponse:
    return HttpResponse(reason, status=403, content_type="text/plain")


def twilio_signed(view: View) -> View:
    """Run `view(request, ...)` only for a POST signed by the account of the URL's `key`;
    the account is `request.twilio_account`."""

    @csrf_exempt
    @require_POST
    @rate_limited("provider_callback", key=by_kwarg("key"))  # per account, before the lookup
    @wraps(view)
    def checked(request: HttpRequest, key: str, **kwargs: Any) -> HttpResponseBase:
        signature = request.headers.get("X-Twilio-Signature", "")
        account = TwilioAccount.objects.filter(webhook_key=key).first()
        if account is None or not signature or not account.auth_token:
            return _forbidden("Unknown or unsigned request.")
        validator = RequestValidator(account.auth_token)
        url = public_url(request.get_full_path())
        if not validator.validate(url, request.POST.dict(), signature):
            return _forbidden("Bad signature.")
        if request.POST.get("AccountSid") not in ("", None, account.account_sid):
            return _forbidden("Another account's request.")
        request.twilio_account = account  # type: ignore[attr-defined]
        return view(request, **kwargs)

    return checked
