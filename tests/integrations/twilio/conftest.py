"""Fixtures for Twilio: `twiml_app`, a tiny stand-in for the application's webhooks (records
what arrives, answers TwiML per path). `fake_twilio`, the fake provider with the SDK pointed
at it, is in tests/conftest.py: the browser flows use it too."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN

__all__ = ["ACCOUNT_SID", "AUTH_TOKEN", "Received", "TwimlApp"]


@dataclass(frozen=True)
class Received:
    """One request the stand-in app received."""

    method: str
    path: str
    query: str
    params: dict[str, str]
    signature: str


Answer = str | Callable[[Received], str]


class TwimlApp:
    """Answers `routes[path]` (TwiML text, or a function of the request); 404 elsewhere."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.received: list[Received] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def hits(self, path: str) -> list[dict[str, str]]:
        """The parameters of every request to `path`, in order."""
        return [r.params for r in self.received if r.path == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                params = dict(parse_qsl(body if method == "POST" else parts.query))
                received = Received(
                    method,
                    parts.path,
                    parts.query,
                    params,
                    self.headers.get("X-Twilio-Signature", ""),
                )
                app.received.append(received)
                route = app.routes.get(parts.path)
                text = route(received) if callable(route) else route
                payload = (text if text is not None else "").encode()
                self.send_response(200 if route is not None else 404)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


@pytest.fixture
def twiml_app() -> Iterator[TwimlApp]:
    app = TwimlApp()
    thread = threading.Thread(
        target=app._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield app
    app._server.shutdown()
    app._server.server_close()
