"""`FakeTwilioControl`: the fake Twilio's `/_fake/` JSON endpoints from another process (the
development phone page drives the fake that `make run` started)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FakeControlError", "FakeTwilioControl"]


class FakeControlError(Exception):
    """The fake refused (unknown call, wrong state) or could not be reached."""


class FakeTwilioControl:
    """A client for one fake Twilio at `base_url` (what `OPSDUTY_TWILIO_API_URL` names)."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.netloc:
            raise ValueError(f"not the fake's http:// URL: {base_url!r}")
        self.netloc, self.timeout = parts.netloc, timeout

    def state(self) -> dict[str, Any]:
        """Phones (messages, calls with transcripts) and the numbers each account bought."""
        answer: dict[str, Any] = self._request("GET", "/_fake/state")
        return answer

    def sms(self, from_: str, to: str, body: str) -> None:
        """A text from a phone to a bought number (delivered in the background)."""
        self._request("POST", "/_fake/sms", {"from": from_, "to": to, "body": body})

    def call(self, from_: str, to: str) -> str:
        """A call from a phone to a bought number; its sid."""
        return str(self._request("POST", "/_fake/calls", {"from": from_, "to": to})["sid"])

    def act(self, call_sid: str, action: str, **data: Any) -> None:
        """answer (by=), press (digits=), gather-timeout, no-answer, busy, hangup (duration=),
        record (duration=): what the phone does on a call."""
        self._request("POST", f"/_fake/calls/{call_sid}/{action}", data)

    def _request(self, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
        connection = http.client.HTTPConnection(self.netloc, timeout=self.timeout)
        body = json.dumps(data) if data is not None else None
        try:
            connection.request(
                method, path, body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            payload = json.loads(response.read() or b"{}")
        except (OSError, ValueError) as error:
            message = f"the fake Twilio at {self.netloc} did not answer: {error}"
            raise FakeControlError(message) from error
        finally:
            connection.close()
        if response.status >= 400:
            raise FakeControlError(payload.get("error", f"HTTP {response.status}"))
        return payload
