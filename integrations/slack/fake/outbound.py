"""Requests from "Slack" to the application, signed as Slack signs them: `X-Slack-Signature:
v0=hex(HMAC-SHA256(signing secret, "v0:<timestamp>:<body>"))` with `X-Slack-Request-Timestamp`,
sent over HTTP to `app_url + path`, or handed to a `sender` (a Django test client, say)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from integrations.slack.fake.model import AppAnswer, Json

# (path, body, headers) -> (status, body, headers): replaces HTTP to the app when set.
Sender = Callable[[str, bytes, dict[str, str]], tuple[int, bytes, dict[str, str]]]

APP_TIMEOUT = 10.0  # Slack gives up after 3 s; a debugger or a slow test deserves longer
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
COMMANDS_PATH = "/integrations/slack/commands/"
INTERACTIONS_PATH = "/integrations/slack/interactions/"
EVENTS_PATH = "/integrations/slack/events/"


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The two headers that `slack_sdk.signature.SignatureVerifier` checks."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def form_body(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


def payload_body(payload: Json) -> bytes:
    """Interactions arrive as a form with one field, `payload`, holding JSON."""
    return form_body({"payload": json.dumps(payload)})


def json_body(payload: Json) -> bytes:
    return json.dumps(payload).encode()


def send(
    secret: str,
    app_url: str,
    sender: Sender | None,
    path: str,
    body: bytes,
    content_type: str,
    extra: dict[str, str] | None = None,
) -> AppAnswer:
    """Sign and deliver one request; the app's answer, status 0 if it could not be reached."""
    headers = {"Content-Type": content_type, "User-Agent": USER_AGENT, **(extra or {})}
    headers.update(signed_headers(secret, body))
    if sender is not None:
        status, answer, answer_headers = sender(path, body, headers)
    else:
        status, answer, answer_headers = http_post(app_url.rstrip("/") + path, body, headers)
    return answer_of(status, answer, answer_headers)


def http_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.netloc, timeout=APP_TIMEOUT)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    except OSError as error:
        return 0, str(error).encode(), {}
    finally:
        connection.close()


def answer_of(status: int, body: bytes, headers: dict[str, str]) -> AppAnswer:
    """An AppAnswer with lower-case header names and the body parsed when it is JSON."""
    lowered = {name.lower(): value for name, value in headers.items()}
    parsed: Any = None
    if body.strip():
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    return AppAnswer(status, body, parsed, lowered)


def is_json(answer: AppAnswer) -> bool:
    """Slack reads an answer as a message only when it says it is JSON."""
    return "json" in answer.headers.get("content-type", "") and isinstance(answer.json, dict)
