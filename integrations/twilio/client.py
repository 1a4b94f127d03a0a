"""The official `twilio` SDK, pointed at Twilio or at a stand-in.

`OPSDUTY_TWILIO_API_URL` (empty: the real Twilio) replaces the scheme and host of every URL
the SDK calls (`https://api.twilio.com/2010-04-01/...` becomes `<url>/2010-04-01/...`): the
test suite's and `make run`'s fake Twilio (`integrations/twilio/fake/`) speak the same paths.
The request itself is the SDK's, through its own `TwilioHttpClient`.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

__all__ = ["API_TIMEOUT", "RewritingHttpClient", "twilio_client"]

# Seconds for one REST call: delivery holds a row lock meanwhile, and the outbox retries.
API_TIMEOUT = 10.0
_TWILIO_HOST = re.compile(r"^https://[a-z0-9.-]*twilio\.com")


class RewritingHttpClient(TwilioHttpClient):
    """The SDK's HTTP client with the Twilio host replaced by `base_url`."""

    def __init__(self, base_url: str, timeout: float = API_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, _TWILIO_HOST.sub(self.base_url, url), *args, **kwargs)


def twilio_client(account_sid: str, auth_token: str) -> Client:
    """A client for one account (the organization's), with a bounded time-out."""
    base = settings.OPSDUTY_TWILIO_API_URL
    http_client = RewritingHttpClient(base) if base else TwilioHttpClient(timeout=API_TIMEOUT)
    return Client(account_sid, auth_token, http_client=http_client)
