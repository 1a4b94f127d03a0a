"""A fake Twilio on loopback: the REST API the `twilio` SDK calls, signed callbacks to the
application (status callbacks, inbound SMS and calls, TwiML fetches), and the phones on the
far side, driven from Python (tests) or over `/_fake/` JSON endpoints (the development phone).

    with FakeTwilio(accounts={"AC...": "token"}) as fake:
        fake.buy_number("AC...", "+14155550100", sms_url="https://ops.example.com/sms")
        fake.forward("https://ops.example.com", "http://127.0.0.1:8000")
        ...; fake.settle()
"""

from __future__ import annotations

import queue
import re
import threading
import xml.etree.ElementTree as ET  # noqa: S405 (TwiML comes from the app under test)
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from integrations.twilio.fake.endpoints import state_of
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
from integrations.twilio.fake.wire import CALLBACK_TIMEOUT, handler_for, send_request

__all__ = ["FakeTwilio", "SmsResult"]

MAX_HANG = 15.0
KINDS = (
    "accounts",
    "messages",
    "calls",
    "incoming_phone_numbers",
    "available_phone_numbers",
    "addresses",
)


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
        self._server = ThreadingHTTPServer((host, port), handler_for(self))
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
        self,
        account_sid: str,
        phone_number: str,
        *,
        voice_url: str = "",
        sms_url: str = "",
        sid: str = "",
    ) -> Number:
        """A number the account owns already (as if bought through the API; `sid` keeps the
        one the application knows it by, when the fake restarts)."""
        with self.lock:
            if account_sid not in self.accounts or not E164.match(phone_number):
                raise FakeError(f"unknown account {account_sid} or bad number {phone_number}")
            number = Number(
                sid or new_sid("PN"),
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

    def sms_later(self, from_: str, to: str, body: str) -> None:
        """A text like `sms()`, delivered in the background (what `/_fake/sms` does)."""
        number = self._bought(to, "sms_url")

        def receive() -> None:
            self._receive_sms(from_, number, body)

        self._submit(receive)

    def state(self) -> dict[str, Any]:
        """Every phone's messages and calls, and the numbers each account bought (JSON)."""
        with self.lock:
            return state_of(self)

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
        status, body = send_request(target, method, params, signature)
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

    def handle_rest(
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
