"""A fake Twilio on loopback: the REST API the `twilio` SDK calls, signed callbacks to the
application (status callbacks, inbound SMS and calls, TwiML fetches), and the phones on the
far side, driven from Python (tests) or over `/_fake/` JSON endpoints (the development phone).

    with FakeTwilio(accounts={"AC...": "token"}) as fake:
        fake.buy_number("AC...", "+14155550100", sms_url="https://ops.example.com/sms")
        fake.forward("https://ops.example.com", "http://127.0.0.1:8000")
        ...; fake.settle()
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import queue
import re
import struct
import threading
import xml.etree.ElementTree as ET  # noqa: S405 (TwiML comes from the app under test)
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from twilio.request_validator import (  # type: ignore[import-untyped, unused-ignore]
    RequestValidator,
)

from integrations.twilio.fake.model import (
    API_VERSION,
    E164,
    OPT_OUT_KEYWORDS,
    TERMINAL,
    Account,
    Address,
    ApiError,
    Call,
    Delivery,
    FakeError,
    Message,
    Number,
    Phone,
    RecordedRequest,
    country_of,
    new_sid,
)
from integrations.twilio.fake.rest import Rest
from integrations.twilio.fake.voice import Voice

__all__ = ["FakeTwilio", "SmsResult"]

CALLBACK_TIMEOUT = 15.0
MAX_HANG = 15.0
KINDS = (
    "accounts",
    "messages",
    "calls",
    "incoming_phone_numbers",
    "available_phone_numbers",
    "addresses",
)
_CONTROL = re.compile(r"^/_fake/calls/(?P<sid>CA[0-9a-f]{32})/(?P<action>[a-z-]+)$")


@dataclass(frozen=True)
class SmsResult:
    """What became of an inbound SMS: the app's HTTP status and the replies its TwiML sent."""

    message_sid: str
    status: int
    replies: list[str]
    opt_out_type: str


@dataclass(frozen=True)
class _Failure:
    status: int
    code: int
    message: str
    hang: float


class FakeTwilio:
    """The fake provider. `start()` (or `with`) serves on `url`; `stop()` ends it."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, accounts: dict[str, str] | None = None
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fake Twilio listens on loopback only")
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.numbers: dict[str, Number] = {}
        self.addresses: dict[str, Address] = {}
        self.messages: dict[str, Message] = {}
        self.calls: dict[str, Call] = {}
        self.phones: dict[str, Phone] = {}
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[Delivery] = []
        self.errors: list[str] = []  # steps that could no longer run when their turn came
        self.rest, self.voice = Rest(self), Voice(self)
        self._forwards: list[tuple[str, str]] = []
        self._failures: dict[str, deque[_Failure]] = {kind: deque() for kind in KINDS}
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._threads: list[threading.Thread] = []
        for sid, token in (accounts or {}).items():
            self.add_account(sid, token)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Self:
        serve = lambda: self._server.serve_forever(poll_interval=0.05)  # noqa: E731 (quick stop)
        for target in (serve, self._work):
            thread = threading.Thread(target=target, name="fake-twilio", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends hanging requests
        self._server.shutdown()
        self._server.server_close()
        self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=CALLBACK_TIMEOUT)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ set-up

    def add_account(self, sid: str, token: str, friendly_name: str = "") -> Account:
        """An account the REST API accepts (Basic auth: sid and token)."""
        with self.lock:
            account = Account(sid, token, friendly_name or f"Fake account {sid[-6:]}")
            self.accounts[sid] = account
            return account

    def buy_number(
        self, account_sid: str, phone_number: str, *, voice_url: str = "", sms_url: str = ""
    ) -> Number:
        """A number the account owns already (as if bought through the API)."""
        with self.lock:
            if account_sid not in self.accounts or not E164.match(phone_number):
                raise FakeError(f"unknown account {account_sid} or bad number {phone_number}")
            number = Number(
                new_sid("PN"),
                account_sid,
                phone_number,
                country_of(phone_number) or "US",
                voice_url=voice_url,
                sms_url=sms_url,
            )
            self.numbers[number.sid] = number
            return number

    def forward(self, public_base: str, real_base: str) -> None:
        """Sign requests for URLs under `public_base` over them, but send them to `real_base`
        (Twilio in front of a TLS proxy)."""
        with self.lock:
            self._forwards.append((public_base.rstrip("/"), real_base.rstrip("/")))

    def phone(self, number: str) -> Phone:
        """The handset at `number` (created on first use): set `sms_undeliverable` on it."""
        with self.lock:
            return self.phones.setdefault(number, Phone(number))

    def fail_next(
        self,
        kind: str,
        *,
        status: int = 500,
        code: int = 20500,
        message: str = "Internal Server Error",
        hang: bool | float = False,
    ) -> None:
        """Answer the next REST request of `kind` with an error (after `hang` seconds: True is
        the longest, 15 s; `stop()` cuts the wait short)."""
        if kind not in KINDS:
            raise FakeError(f"kind must be one of {', '.join(KINDS)}")
        seconds = MAX_HANG if hang is True else min(float(hang), MAX_HANG)
        with self.lock:
            self._failures[kind].append(_Failure(status, code, message, seconds))

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until every queued callback and call step has run (TimeoutError if not)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout):
                raise TimeoutError(f"the fake Twilio still has {self._pending} steps to run")

    # ------------------------------------------------------------------ the far side

    def sms(self, from_: str, to: str, body: str, timeout: float = 15.0) -> SmsResult:
        """A text from the phone `from_` to the bought number `to`; waits for the app's answer."""
        number = self._bought(to, "sms_url")
        result: Future[SmsResult] = Future()
        self._submit(lambda: result.set_result(self._receive_sms(from_, number, body)))
        return result.result(timeout)

    def call(self, from_: str, to: str) -> str:
        """A call from the phone `from_` to the bought number `to`; answers its sid."""
        number = self._bought(to, "voice_url")
        call = Call(
            new_sid("CA"),
            number.account_sid,
            from_,
            to,
            "inbound",
            status="ringing",
            status_callback=number.status_callback,
        )
        self.add_call(call)
        self._submit(lambda: self.voice.start_inbound(call, number.voice_url, number.voice_method))
        return call.sid

    def answer(self, call_sid: str, by: str = "human") -> None:
        """The called phone picks up (`by`: human, machine_start, fax...)."""
        self._control(call_sid, {"ringing"}, lambda c: self.voice.answer(c, by))

    def no_answer(self, call_sid: str) -> None:
        self._control(
            call_sid,
            {"queued", "initiated", "ringing"},
            lambda c: self.voice.finish(c, "no-answer"),
        )

    def busy(self, call_sid: str) -> None:
        self._control(
            call_sid, {"queued", "initiated", "ringing"}, lambda c: self.voice.finish(c, "busy")
        )

    def press(self, call_sid: str, digits: str) -> None:
        if not re.fullmatch(r"[0-9*#]+", digits):
            raise FakeError("digits are 0-9, * and #")
        self._control(call_sid, {"in-progress"}, lambda c: self.voice.press(c, digits))

    def gather_timeout(self, call_sid: str) -> None:
        self._control(call_sid, {"in-progress"}, self.voice.gather_timeout, waiting="keys")

    def record(self, call_sid: str, duration: int = 5) -> None:
        self._control(
            call_sid, {"in-progress"}, lambda c: self.voice.record(c, duration), waiting="recording"
        )

    def hangup(self, call_sid: str, duration: int = 5) -> None:
        """The phone hangs up (a ringing outbound call is cancelled)."""
        self._control(
            call_sid,
            {"queued", "initiated", "ringing", "in-progress"},
            lambda c: self.voice.hangup(c, duration),
        )

    def state(self) -> dict[str, Any]:
        """Every phone's messages and calls, and the numbers each account bought (JSON)."""
        with self.lock:
            bought = {n.phone_number for n in self.numbers.values()}
            return {
                "accounts": [
                    {
                        "sid": a.sid,
                        "friendly_name": a.friendly_name,
                        "numbers": [
                            _number_state(n)
                            for n in self.numbers.values()
                            if n.account_sid == a.sid
                        ],
                    }
                    for a in self.accounts.values()
                ],
                "phones": [
                    self._phone_state(p) for p in self.phones.values() if p.number not in bought
                ],
            }

    # ------------------------------------------------------------------ used by rest / voice

    def number_by_phone(self, phone_number: str, account_sid: str | None = None) -> Number | None:
        for number in self.numbers.values():
            if number.phone_number == phone_number and account_sid in (None, number.account_sid):
                return number
        return None

    def add_call(self, call: Call) -> None:
        with self.lock:
            self.calls[call.sid] = call
            self.phone(call.from_ if call.direction == "inbound" else call.to).call_sids.append(
                call.sid
            )

    def deliver_outbound(self, message: Message) -> None:
        """Store an outbound message and, on the worker, move it to sent and delivered."""
        with self.lock:
            self.messages[message.sid] = message
            self.phone(message.to).message_sids.append(message.sid)
        self._submit(lambda: self._progress_message(message))

    def place_call(self, call: Call) -> None:
        self.add_call(call)
        self._submit(lambda: self.voice.start_outbound(call))

    def modify_call(self, call: Call, params: dict[str, str]) -> None:
        """POST Calls/{sid}: Status=completed/canceled ends it, Url= or Twiml= redirects it."""
        status, url = params.get("Status", ""), params.get("Url", "")
        if status in ("completed", "canceled"):
            self._submit(lambda: self.voice.hangup(call, call.duration))
        elif url or params.get("Twiml"):
            if call.status in TERMINAL:
                raise ApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
            self._submit(
                lambda: self._redirect(
                    call, url, params.get("Method", "POST"), params.get("Twiml", "")
                )
            )

    def send(self, url: str, method: str, params: dict[str, str], account_sid: str) -> Delivery:
        """A signed request to the application, as Twilio signs it (over the public URL)."""
        token = self.accounts[account_sid].token
        method = method.upper()
        if method == "GET":
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        signed = {} if method == "GET" else params
        signature = RequestValidator(token).compute_signature(url, signed)
        target = url
        for public, real in self._forwards:
            if url == public or url.startswith(public + "/") or url.startswith(public + "?"):
                target = real + url[len(public) :]
        status, body = _http(target, method, params, signature)
        delivery = Delivery(url, target, method, params, signature, status, body)
        with self.lock:
            self.deliveries.append(delivery)
        return delivery

    # ------------------------------------------------------------------ internals

    def _submit(self, job: Callable[[], None]) -> None:
        with self._idle:
            self._pending += 1
        self._jobs.put(job)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except FakeError as error:
                self.errors.append(str(error))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _bought(self, to: str, url_attr: str) -> Number:
        with self.lock:
            number = self.number_by_phone(to)
        if number is None or not getattr(number, url_attr):
            raise FakeError(f"{to} is not a bought number with a {url_attr}")
        return number

    def _control(
        self, call_sid: str, statuses: set[str], step: Callable[[Call], None], waiting: str = ""
    ) -> None:
        """Check now (FakeError for the caller), then run the step on the worker."""
        with self.lock:
            call = self.calls.get(call_sid)
            if call is None:
                raise FakeError(f"no call {call_sid}")
            if call.status not in statuses or (waiting and call.waiting != waiting):
                raise FakeError(f"{call_sid} is {call.status} {call.waiting}".rstrip())

        def checked() -> None:
            if call.status not in statuses or (waiting and call.waiting != waiting):
                raise FakeError(f"{call_sid} was {call.status} when its turn came")
            step(call)

        self._submit(checked)

    def _redirect(self, call: Call, url: str, method: str, twiml: str) -> None:
        call.waiting, call.leg_sid = "", ""
        loaded = self.voice.load(call, url, method) if url else self.voice.parse(call, twiml)
        if loaded:
            self.voice.run(call)

    def _progress_message(self, message: Message) -> None:
        phone = self.phone(message.to)
        steps = ["sent", "undelivered" if phone.sms_error else "delivered"]
        for status in steps:
            message.status = status
            message.error_code = phone.sms_error if status == "undelivered" else None
            if message.status_callback:
                params = _message_params(message, MessageStatus=status, SmsStatus=status)
                if message.error_code:
                    params["ErrorCode"] = str(message.error_code)
                self.send(message.status_callback, "POST", params, message.account_sid)

    def _receive_sms(self, from_: str, number: Number, body: str) -> SmsResult:
        phone = self.phone(from_)
        keyword = OPT_OUT_KEYWORDS.get(body.strip().upper(), "")
        if keyword == "STOP":
            phone.opted_out_of.add(number.phone_number)
        elif keyword == "START":
            phone.opted_out_of.discard(number.phone_number)
        message = Message(
            new_sid("SM"),
            number.account_sid,
            from_,
            number.phone_number,
            body,
            "inbound",
            "received",
        )
        with self.lock:
            self.messages[message.sid] = message
            phone.message_sids.append(message.sid)
        params = _message_params(
            message,
            SmsStatus="received",
            Body=body,
            NumMedia="0",
            NumSegments="1",
            SmsMessageSid=message.sid,
        )
        if keyword:
            params["OptOutType"] = keyword
        delivery = self.send(number.sms_url, number.sms_method, params, number.account_sid)
        replies = _twiml_messages(delivery.body) if 200 <= delivery.status < 300 else []
        for text in replies:
            reply = Message(
                new_sid("SM"),
                number.account_sid,
                number.phone_number,
                from_,
                text,
                "outbound-reply",
                "delivered",
            )
            if number.phone_number in phone.opted_out_of:
                reply.status, reply.error_code = "failed", 21610
            with self.lock:
                self.messages[reply.sid] = reply
                phone.message_sids.append(reply.sid)
        return SmsResult(message.sid, delivery.status, replies, keyword)

    def _phone_state(self, phone: Phone) -> dict[str, Any]:
        messages = [self.messages[s] for s in phone.message_sids if s in self.messages]
        calls = [self.calls[s] for s in phone.call_sids]
        return {
            "number": phone.number,
            "sms_undeliverable": phone.sms_undeliverable,
            "opted_out_of": sorted(phone.opted_out_of),
            "messages": [
                {
                    "sid": m.sid,
                    "sent_by_phone": m.from_ == phone.number,
                    "peer": m.to if m.from_ == phone.number else m.from_,
                    "body": m.body,
                    "status": m.status,
                    "error_code": m.error_code,
                    "created": m.created,
                }
                for m in messages
            ],
            "calls": [
                {
                    "sid": c.sid,
                    "placed_by_phone": c.direction == "inbound",
                    "peer": c.to if c.direction == "inbound" else c.from_,
                    "status": c.status,
                    "waiting": c.waiting or ("answer" if c.status == "ringing" else ""),
                    "bridged": c.bridged,
                    "parent_sid": c.parent_sid,
                    "duration": c.duration,
                    "transcript": list(c.transcript),
                    "created": c.created,
                }
                for c in calls
            ],
        }

    def _handle(
        self, method: str, path: str, params: dict[str, list[str]], auth: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any] | None]:
        """Answer one REST request: record it, route, authenticate, inject, handle."""
        single = {k: v[0] for k, v in params.items()}
        with self.lock:
            self.requests.append(
                RecordedRequest(method, path, single, params, auth[0] if auth else "")
            )
        try:
            with self.lock:
                path_sid, kind, handler, args = self.rest.route(method, path)
                account = self.rest.authenticate(auth, path_sid)
                failure = self._failures[kind].popleft() if self._failures[kind] else None
            if failure is not None:
                self._stopping.wait(failure.hang)
                raise ApiError(failure.status, failure.code, failure.message)
            with self.lock:
                return handler(account=account, method=method, params=single, lists=params, **args)
        except ApiError as error:
            return error.status, error.body()

    def _handle_control(self, method: str, path: str, data: dict[str, Any]) -> tuple[int, Any]:
        """The `/_fake/` JSON endpoints (the development phone's; see control.py)."""
        try:
            if method == "GET" and path == "/_fake/state":
                return 200, self.state()
            if method == "POST" and path == "/_fake/sms":
                to, from_, body = str(data["to"]), str(data["from"]), str(data["body"])
                self._bought(to, "sms_url")
                self._submit(lambda: self._send_sms_later(from_, to, body))
                return 202, {"queued": True}
            if method == "POST" and path == "/_fake/calls":
                return 201, {"sid": self.call(str(data["from"]), str(data["to"]))}
            match = _CONTROL.match(path)
            if method == "POST" and match:
                self._control_action(match["sid"], match["action"], data)
                return 202, {"queued": True}
        except (FakeError, KeyError, ValueError) as error:
            return 400, {"error": str(error)}
        return 404, {"error": f"no such endpoint: {method} {path}"}

    def _send_sms_later(self, from_: str, to: str, body: str) -> None:
        number = self._bought(to, "sms_url")
        self._receive_sms(from_, number, body)

    def _control_action(self, sid: str, action: str, data: dict[str, Any]) -> None:
        actions: dict[str, Callable[[], None]] = {
            "answer": lambda: self.answer(sid, str(data.get("by", "human"))),
            "press": lambda: self.press(sid, str(data.get("digits", ""))),
            "gather-timeout": lambda: self.gather_timeout(sid),
            "no-answer": lambda: self.no_answer(sid),
            "busy": lambda: self.busy(sid),
            "hangup": lambda: self.hangup(sid, int(data.get("duration", 5))),
            "record": lambda: self.record(sid, int(data.get("duration", 5))),
        }
        if action not in actions:
            raise FakeError(f"unknown action {action}")
        actions[action]()


def _number_state(number: Number) -> dict[str, Any]:
    return {
        "sid": number.sid,
        "phone_number": number.phone_number,
        "voice_url": number.voice_url,
        "sms_url": number.sms_url,
    }


def _message_params(message: Message, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "From": message.from_,
        "To": message.to,
        **extra,
    }


def _twiml_messages(body: str) -> list[str]:
    """The texts of `<Message>` verbs (plain text or a `<Body>` child) in a TwiML answer."""
    try:
        root = ET.fromstring(body)  # noqa: S314 (our own app's TwiML)
    except ET.ParseError:
        return []
    texts = []
    for verb in root.iter("Message"):
        child = verb.find("Body")
        texts.append(((child.text if child is not None else verb.text) or "").strip())
    return texts


def _http(url: str, method: str, params: dict[str, str], signature: str) -> tuple[int, str]:
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


def _wav(seconds: int = 1) -> bytes:
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


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
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
                self._reply(200, _wav(), "audio/wav")
            elif parts.path.startswith("/_fake/"):
                try:
                    data = json.loads(raw) if raw else {}
                except ValueError:
                    data = None
                if not isinstance(data, dict):
                    self._json(400, {"error": "send a JSON object"})
                    return
                self._json(*fake._handle_control(method, parts.path, data))
            else:
                params = parse_qs(parts.query, keep_blank_values=True)
                for key, values in parse_qs(raw, keep_blank_values=True).items():
                    params.setdefault(key, []).extend(values)
                self._json(*fake._handle(method, parts.path, params, self._auth()))

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
