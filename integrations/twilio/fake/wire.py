"""The fake's HTTP side: the request handler of its server (REST, `/_fake/`, recordings) and
the client that sends its signed requests to the application."""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import struct
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from integrations.twilio.fake.endpoints import handle_control

if TYPE_CHECKING:
    from integrations.twilio.fake.server import FakeTwilio

CALLBACK_TIMEOUT = 15.0


def send_request(url: str, method: str, params: dict[str, str], signature: str) -> tuple[int, str]:
    """One request to the application; (0, reason) when it cannot be reached."""
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.netloc, timeout=CALLBACK_TIMEOUT)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1 (fake)"}
    body = None
    if method != "GET":
        body = urlencode(params)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    except OSError as error:
        return 0, str(error)
    finally:
        connection.close()


def silent_wav(seconds: int = 1) -> bytes:
    """A silent 8 kHz mono WAV (what `/recordings/RE...` serves)."""
    frames = b"\x00\x00" * 8000 * seconds
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(frames),
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        8000,
        16000,
        2,
        16,
        b"data",
        len(frames),
    )
    return header + frames


def handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeTwilio/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: the fake records requests in `fake.requests`."""

        def do_GET(self) -> None:  # noqa: N802
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            if parts.path.startswith("/recordings/RE"):
                self._reply(200, silent_wav(), "audio/wav")
            elif parts.path.startswith("/_fake/"):
                try:
                    data = json.loads(raw) if raw else {}
                except ValueError:
                    data = None
                if not isinstance(data, dict):
                    self._json(400, {"error": "send a JSON object"})
                    return
                self._json(*handle_control(fake, method, parts.path, data))
            else:
                params = parse_qs(parts.query, keep_blank_values=True)
                for key, values in parse_qs(raw, keep_blank_values=True).items():
                    params.setdefault(key, []).extend(values)
                self._json(*fake.handle_rest(method, parts.path, params, self._auth()))

        def _auth(self) -> tuple[str, str] | None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return user, password

        def _json(self, status: int, body: Any) -> None:
            if body is None:
                self._reply(status, b"", "")
            else:
                self._reply(status, json.dumps(body).encode(), "application/json")

        def _reply(self, status: int, payload: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (a time-out test)

    return Handler
