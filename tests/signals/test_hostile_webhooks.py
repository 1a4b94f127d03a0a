"""Hostile input against the webhook receiver and the heartbeat check-in, over real HTTP to
`opsduty.asgi:application` under uvicorn (what `make run` serves).

Every answer is a clear 4xx (a JSON `detail`) or a 202, never a 5xx; every 202 has exactly
one stored raw event, with the body that was sent, and it processes into an incident.
Slow and oversized bodies are cut off by `opsduty/request_body.py` (408 / 413) without
holding one of Django's threads.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.ingest import drain
from incidents.models import Incident
from opsduty.models import Organization, Service
from signals.models import RawEvent, RawEventStatus, Webhook
from signals.receiver import ingest
from tests import factories
from tests.heartbeat_factories import make_heartbeat, make_state
from tests.signals.conftest import url

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "application/alert+json"]
OTHER_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
    "",
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)
valid_events = st.dictionaries(st.text(max_size=12), json_values, max_size=6)


def _nested(depth: int) -> bytes:
    return b'{"a":' + b"[" * depth + b"]" * depth + b"}"


hostile_bodies = st.one_of(
    st.binary(max_size=300),
    st.integers(min_value=1, max_value=5000).map(_nested),
    st.integers(min_value=1, max_value=3000).map(
        lambda n: b'{"a":' + b'{"b":' * n + b"1" + b"}" * n + b"}"
    ),
    st.sampled_from(
        [
            b'{"n": 1e400}',
            b'{"n": -1e400}',
            b'{"n": 1e-400}',
            b'{"n": ' + b"9" * 5000 + b"}",
            b'{"n": ' + b"9" * 300 + b"}",
            b'{"n": 0.' + b"0" * 5000 + b"1}",
            b'{"a": "\xff\xfe"}',
            b'{"a": "\xed\xa0\x80"}',
            b'{"a": "\\ud800"}',
            b'{"a": "\\udc00\\ud800"}',
            b'{"a": "x\x00y"}',
            b'{"a\\u0000b": "\\u0000"}',
            b"\xef\xbb\xbf{}",
            b"a=1&b=2",
            b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xyz--\r\n',
            b"[1, 2]",
            b'"just a string"',
            b"null",
            b"",
            b"{" * 100_000,
            b'{"a": 1, "a": 2}',
            b'{"title": "' + b"x" * 400_000 + b'"}',
        ]
    ),
)


class Server:
    """One keep-alive HTTP connection to the live server."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(
        self, method: str, path: str, body: bytes = b"", content_type: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Content-Length": str(len(body))}
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, ConnectionError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        content = response.read()
        if response.getheader("connection", "").lower() == "close":
            self.conn.close()
        return response.status, content


@pytest.fixture
def server(asgi_server: str) -> Iterator[Server]:
    ingest.cache_clear()
    server = Server(asgi_server)
    yield server
    server.conn.close()


@pytest.fixture
def hook(org_a: Organization) -> Webhook:
    webhook = factories.make_webhook(organization=org_a, name="Fuzzed")
    Webhook.objects.filter(pk=webhook.pk).update(rate_limit_per_minute=100_000)
    return webhook


@pytest.fixture
def api(org_a: Organization) -> Service:
    return factories.make_service(organization=org_a, name="API")


def _assert_clear_refusal(status: int, content: bytes) -> None:
    assert 400 <= status < 500, (status, content[:300])
    detail = json.loads(content)["detail"]
    assert isinstance(detail, str) and detail


def _comparable(value: Any) -> Any:
    """`value` as the receiver stores it: U+0000 as U+FFFD (jsonb cannot hold it), numbers as
    their value (jsonb keeps the decimal sent, 1e+220 comes back as an int of 221 digits)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, dict):
        return {_comparable(k): _comparable(v) for k, v in value.items()}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _assert_every_accepted_event_processes(accepted: dict[str, Any]) -> None:
    """Exactly one raw event per 202 (and none for a refusal), with the body sent, and each
    becomes an incident."""
    stored = {str(r.reference.public_id): r for r in RawEvent.objects.select_related("reference")}
    assert set(stored) == set(accepted)
    for reference, sent in accepted.items():
        if sent is not None:
            assert _comparable(stored[reference].body) == _comparable(sent)
    while drain.raw_events_drain(linger=0):
        pass
    statuses = {r.status for r in RawEvent.objects.all()}
    assert statuses <= {RawEventStatus.PROCESSED}, [
        (r.status, r.error) for r in RawEvent.objects.exclude(status=RawEventStatus.PROCESSED)
    ]
    assert RawEvent.objects.filter(incident__isnull=True).count() == 0
    assert Incident.objects.exists() == bool(accepted)


def test_fuzzed_webhook_bodies_get_202_or_a_clear_4xx(
    server: Server, hook: Webhook, api: Service
) -> None:
    accepted: dict[str, Any] = {}
    path = url(hook, api.routing_key)

    @HOSTILE_SETTINGS
    @given(
        st.one_of(
            st.tuples(valid_events, st.sampled_from(JSON_TYPES)).map(lambda v: ("valid", *v)),
            st.tuples(hostile_bodies, st.sampled_from(JSON_TYPES + OTHER_TYPES)).map(
                lambda v: ("hostile", *v)
            ),
        )
    )
    def post(case: tuple[str, Any, str]) -> None:
        kind, body, content_type = case
        raw = json.dumps(body).encode() if kind == "valid" else body
        status, content = server.request("POST", path, raw, content_type or None)
        if kind == "valid":
            assert status == 202, (status, content[:300])
        if status == 202:
            reference = json.loads(content)["id"]
            accepted[reference] = body if kind == "valid" else None
        else:
            _assert_clear_refusal(status, content)

    post()
    assert accepted, "no example was accepted: the fuzzing proves nothing"
    _assert_every_accepted_event_processes(accepted)


def test_fuzzed_webhook_urls_and_methods_get_a_clear_4xx(
    server: Server, hook: Webhook, api: Service
) -> None:
    @HOSTILE_SETTINGS
    @given(
        method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "POST", "OPTIONS"]),
        routing_key=st.text(min_size=0, max_size=80),
        webhook_key=st.one_of(st.just("ours"), st.text(max_size=40), st.uuids().map(str)),
    )
    def send(method: str, routing_key: str, webhook_key: str) -> None:
        key = str(hook.key) if webhook_key == "ours" else webhook_key
        path = ingest.PREFIX + quote(key, safe="") + "/" + quote(routing_key, safe="")
        status, content = server.request(method, path, b"{}", "application/json")
        if status != 202:
            _assert_clear_refusal(status, content)

    send()
    # NUL and odd bytes in the routing key: unknown keys (a NUL used to make the lookup fail
    # with a 500).
    for routing_key in ("%00", "a%00b", "%C0%80", "%FF", "..%2F..", "x" * 64 + "%00", "%20"):
        status, content = server.request(
            "POST", f"{ingest.PREFIX}{hook.key}/{routing_key}", b"{}", "application/json"
        )
        assert status == 404, (routing_key, content[:300])
        _assert_clear_refusal(status, content)
    assert not RawEvent.objects.exists()


def test_fuzzed_heartbeat_checkins_never_5xx(server: Server, api: Service) -> None:
    @HOSTILE_SETTINGS
    @given(
        method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE"]),
        key=st.one_of(st.just("ours"), st.text(max_size=40)),
        environment=st.one_of(st.none(), st.just("prod"), st.text(max_size=30)),
        body=st.binary(max_size=200),
    )
    def check_in(method: str, key: str, environment: str | None, body: bytes) -> None:
        state = make_state(heartbeat=make_heartbeat(service=api, name=f"job-{time.monotonic_ns()}"))
        real = state.heartbeat.public_primary_key
        path = "/heartbeats/checkin/" + quote(real if key == "ours" else key, safe="") + "/"
        if environment is not None:
            path += quote(environment, safe="") + "/"
        status, content = server.request(method, path, body, "application/octet-stream")
        assert status < 500, (path, status, content[:300])
        if method != "HEAD" and status != 200:
            assert json.loads(content)["detail"]
        if key == "ours" and environment in (None, "prod") and method in ("GET", "POST"):
            assert status == 200, (path, status, content[:300])

    check_in()
    # Odd check-in URLs: a JSON 404, or the site-wide JSON 400 for a NUL (which used to fail
    # the lookup with a 503 "database unavailable").
    for path in ("%00", "a%00", "%00/prod", "x/%00", "%FF%FE/", "/prod/", "x/%0A/", "x/a%0Ab"):
        status, content = server.request("GET", f"/heartbeats/checkin/{path}")
        assert status == (400 if "%00" in path else 404), (path, content[:300])
        assert json.loads(content)["detail"]


# --- huge and slow bodies -------------------------------------------------------------------

TEN_MB = 10 * 1024 * 1024


def test_oversized_bodies_are_413_on_the_webhook_and_on_django(
    asgi_server: str, hook: Webhook, api: Service
) -> None:
    """Refused from its Content-Length, before the body is read: the server answers while
    the client is still sending, and closes the connection."""
    for path in (url(hook, api.routing_key), "/api/v1/services/", "/login/"):
        with _raw(asgi_server) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {TEN_MB}\r\n\r\n".encode()
                + b'{"a": "'
                + b"x" * 65536
            )
            answer = _read_all(sock)
        assert answer.startswith(b"HTTP/1.1 413"), (path, answer[:200])
        assert b"The request body is over 2560 KB." in answer
    assert not RawEvent.objects.exists()

    # Chunked (no Content-Length): read up to the limit, refused one byte past it. One byte
    # over and no more: the server has read all that was sent when it answers and closes
    # (unread data would make the close a reset, losing the answer).
    path = url(hook, api.routing_key)
    over = [b"x" * 65536] * 40 + [b"x"]
    answer = _chunked(asgi_server, path, over, end=False)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    answer = _chunked(asgi_server, path, [b'{"title": ', b'"chunked"}'])
    assert answer.startswith(b"HTTP/1.1 202"), answer[:200]
    assert RawEvent.objects.get().body == {"title": "chunked"}


def _raw(base: str) -> socket.socket:
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    return sock


def _chunked(server_url: str, path: str, chunks: list[bytes], *, end: bool = True) -> bytes:
    sock = _raw(server_url)
    with sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        for chunk in chunks:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        if end:
            sock.sendall(b"0\r\n\r\n")
        return _read_all(sock)


def _read_all(sock: socket.socket) -> bytes:
    """One HTTP answer: the head, then Content-Length bytes (or up to the close)."""
    data = b""
    while True:
        head, _, rest = data.partition(b"\r\n\r\n")
        if _:
            lengths = [
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ]
            if lengths and len(rest) >= lengths[0]:
                return data
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def _slow_post(
    base: str,
    path: str,
    *,
    length: int = 100,
    sent: bytes = b'{"ti',
    content_type: str = "application/json",
) -> socket.socket:
    """Start a POST announcing `length` bytes and send only `sent`: the body stalls."""
    sock = _raw(base)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n".encode()
        + sent
    )
    return sock


def test_stalled_bodies_are_cut_off_with_408_and_hold_no_thread(
    asgi_server: str, hook: Webhook, api: Service, settings: Any
) -> None:
    """The webhook receiver, a Django form and a check-in: a body sent a byte at a time,
    then not at all, is answered 408 at the deadline and the connection closed; while bodies
    stall, Django still serves pages."""
    settings.OPSDUTY_REQUEST_BODY_SECONDS = 1
    for path in (url(hook, api.routing_key), "/login/", "/heartbeats/checkin/unknown/"):
        with _slow_post(asgi_server, path) as sock:
            for _ in range(3):
                sock.sendall(b"x")
            answer = _read_all(sock)
            assert answer.startswith(b"HTTP/1.1 408"), (path, answer[:200])
            assert b"did not arrive within 1 s" in answer
            assert sock.recv(1) == b""  # closed by the server
    assert not RawEvent.objects.exists()

    # More stalled POSTs than a2wsgi has threads (8): the sign-in page still answers (before
    # the bodies were read on the event loop, each held a thread until its sender gave up).
    settings.OPSDUTY_REQUEST_BODY_SECONDS = 60
    # The OAuth token endpoint reads its form body (no CSRF check refuses it first).
    form = "application/x-www-form-urlencoded"
    stalled = [
        _slow_post(asgi_server, "/oauth2/token/", sent=b"a", content_type=form) for _ in range(12)
    ]
    try:
        status, content = Server(asgi_server).request("GET", "/login/")
        assert status == 200
        assert b"sign in" in content.lower()
    finally:
        for sock in stalled:
            sock.close()
