"""Keep the credentials of URLs out of the logs (docs/security.md).

A webhook key, a heartbeat check-in key, a calendar feed token, a Twilio account key, an
invitation's link and an address change's link are
parts of their URLs' paths, and Django (`django.request`: "Not Found: /heartbeats/checkin/
<key>/", every 4xx and 5xx), the development server and uvicorn's access log write paths.
`UrlCredentialFilter` replaces those parts with `<redacted>` in the message, its arguments
and the `request` attached to the record, before any handler formats it.
"""

from __future__ import annotations

import logging
import re

REDACTED = "<redacted>"

_PATTERNS = [
    re.compile(r"(/integrations/webhooks/enque/event/)[^/\s?#'\"]+"),
    re.compile(r"(/heartbeats/checkin/)[^/\s?#'\"]+"),
    re.compile(r"(/calendar/)[^/\s?#'\"]+?(?=\.ics|[\s?#'\"]|$)"),
    re.compile(r"(/integrations/twilio/)[^/\s?#'\"]+"),
    re.compile(r"(/invitations/)[^/\s?#'\"]+"),
    re.compile(r"(/email-change/)[^/\s?#'\"]+"),
    # An OpenID Connect callback's authorization code (integrations/sso): a one-time
    # credential in the query string, which uvicorn's access log writes.
    re.compile(r"(/accounts/oidc/[^?\s'\"]*\?(?:[^\s'\"#]*&)?code=)[^&\s'\"#]+"),
]


def url_credentials_redact(text: str) -> str:
    """`text` with the credential part of every known URL replaced by `<redacted>`."""
    if "/" not in text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


def _redacted(value: object) -> object:
    return url_credentials_redact(value) if isinstance(value, str) else value


class UrlCredentialFilter(logging.Filter):
    """A logging filter (set on the loggers that write request paths) that redacts them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = url_credentials_redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        request = getattr(record, "request", None)
        if request is not None and not isinstance(request, str):
            # The JSON formatter writes `extra` fields with str(), which names the path.
            path = url_credentials_redact(str(getattr(request, "path", "")))
            record.request = f"{getattr(request, 'method', '')} {path}"
        return True
