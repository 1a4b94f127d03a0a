"""The fake's own `/_fake/` JSON endpoints (what `FakeTwilioControl` calls) and the state
they show: every phone's texts and calls, and the numbers each account bought."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from integrations.twilio.fake.model import Call, FakeError, Message, Number, Phone

if TYPE_CHECKING:
    from integrations.twilio.fake.server import FakeTwilio

_CALL_ACTION = re.compile(r"^/_fake/calls/(?P<sid>CA[0-9a-f]{32})/(?P<action>[a-z-]+)$")


def handle_control(
    fake: FakeTwilio, method: str, path: str, data: dict[str, Any]
) -> tuple[int, Any]:
    """Answer one `/_fake/` request: 400 with `error` when the fake refuses."""
    try:
        if method == "GET" and path == "/_fake/state":
            return 200, fake.state()
        if method == "POST" and path == "/_fake/sms":
            fake.sms_later(str(data["from"]), str(data["to"]), str(data["body"]))
            return 202, {"queued": True}
        if method == "POST" and path == "/_fake/calls":
            return 201, {"sid": fake.call(str(data["from"]), str(data["to"]))}
        match = _CALL_ACTION.match(path)
        if method == "POST" and match:
            _call_action(fake, match["sid"], match["action"], data)
            return 202, {"queued": True}
    except (FakeError, KeyError, ValueError) as error:
        return 400, {"error": str(error)}
    return 404, {"error": f"no such endpoint: {method} {path}"}


def _call_action(fake: FakeTwilio, sid: str, action: str, data: dict[str, Any]) -> None:
    actions: dict[str, Callable[[], None]] = {
        "answer": lambda: fake.answer(sid, str(data.get("by", "human"))),
        "press": lambda: fake.press(sid, str(data.get("digits", ""))),
        "gather-timeout": lambda: fake.gather_timeout(sid),
        "no-answer": lambda: fake.no_answer(sid),
        "busy": lambda: fake.busy(sid),
        "hangup": lambda: fake.hangup(sid, int(data.get("duration", 5))),
        "record": lambda: fake.record(sid, int(data.get("duration", 5))),
    }
    if action not in actions:
        raise FakeError(f"unknown action {action}")
    actions[action]()


def state_of(fake: FakeTwilio) -> dict[str, Any]:
    """The JSON of `/_fake/state` (the caller holds `fake.lock`). Bought numbers are listed
    under their account, not as phones."""
    bought = {n.phone_number for n in fake.numbers.values()}
    return {
        "accounts": [
            {
                "sid": account.sid,
                "friendly_name": account.friendly_name,
                "numbers": [
                    _number(n) for n in fake.numbers.values() if n.account_sid == account.sid
                ],
            }
            for account in fake.accounts.values()
        ],
        "phones": [_phone(fake, p) for p in fake.phones.values() if p.number not in bought],
    }


def _number(number: Number) -> dict[str, Any]:
    return {
        "sid": number.sid,
        "phone_number": number.phone_number,
        "voice_url": number.voice_url,
        "sms_url": number.sms_url,
    }


def _phone(fake: FakeTwilio, phone: Phone) -> dict[str, Any]:
    messages = [fake.messages[s] for s in phone.message_sids if s in fake.messages]
    return {
        "number": phone.number,
        "sms_undeliverable": phone.sms_undeliverable,
        "opted_out_of": sorted(phone.opted_out_of),
        "messages": [_message(phone, m) for m in messages],
        "calls": [_call(fake.calls[s]) for s in phone.call_sids],
    }


def _message(phone: Phone, message: Message) -> dict[str, Any]:
    sent = message.from_ == phone.number
    return {
        "sid": message.sid,
        "sent_by_phone": sent,
        "peer": message.to if sent else message.from_,
        "body": message.body,
        "status": message.status,
        "error_code": message.error_code,
        "created": message.created,
    }


def _call(call: Call) -> dict[str, Any]:
    placed = call.direction == "inbound"  # placed by the phone, to a bought number
    return {
        "sid": call.sid,
        "placed_by_phone": placed,
        "peer": call.to if placed else call.from_,
        "status": call.status,
        # What the phone's person can do next: answer a ringing call, press keys, record.
        "waiting": call.waiting or ("answer" if call.status == "ringing" and not placed else ""),
        "bridged": call.bridged,
        "parent_sid": call.parent_sid,
        "duration": call.duration,
        "transcript": list(call.transcript),
        "created": call.created,
    }
