"""Calls: their progress (ringing, answered, ended) and the TwiML they run.

Everything here runs on the fake's one worker thread, so a call's verbs never run twice at
once; HTTP requests to the application are made without holding the state lock."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 (TwiML comes from the app under test)
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from integrations.twilio.fake.model import API_VERSION, TERMINAL, Call, FakeError, new_sid

if TYPE_CHECKING:
    from integrations.twilio.fake.server import FakeTwilio

# The status callback event each call status belongs to (StatusCallbackEvent).
_EVENT = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}


class Voice:
    """Moves calls on and interprets their TwiML (Say, Play, Pause, Gather, Record, Dial...)."""

    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake

    # ------------------------------------------------------------------ call progress

    def params(self, call: Call, **extra: str) -> dict[str, str]:
        """What Twilio sends about a call with every request."""
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
        }
        if call.parent_sid:
            params["ParentCallSid"] = call.parent_sid
        if call.machine_detection and call.answered_by:
            params["AnsweredBy"] = call.answered_by
        return {**params, **extra}

    def set_status(self, call: Call, status: str) -> None:
        """Change the status and send the status callback if the app asked for that event."""
        call.status = status
        event = "completed" if status in TERMINAL else _EVENT.get(status, "")
        if not call.status_callback or event not in call.status_events:
            return
        call.sequence += 1
        extra = {"CallbackSource": "call-progress-events", "SequenceNumber": str(call.sequence)}
        if status in TERMINAL:
            extra["CallDuration"] = str(call.duration)
        params = self.params(call, **extra)
        self.fake.send(call.status_callback, call.status_callback_method, params, call.account_sid)

    def start_outbound(self, call: Call) -> None:
        self.set_status(call, "initiated")
        self.set_status(call, "ringing")

    def start_inbound(self, call: Call, voice_url: str, method: str) -> None:
        call.status = "ringing"
        if self.load(call, voice_url, method):
            self.run(call)

    def answer(self, call: Call, by: str) -> None:
        if call.status != "ringing" or call.direction == "inbound":
            raise FakeError(f"{call.sid} is {call.direction} and {call.status}: not for answering")
        call.answered_by = by
        self.set_status(call, "in-progress")
        if call.url or call.twiml:
            loaded = self.load(call, call.url, call.method) if call.url else self.parse(call, "")
            if loaded:
                self.run(call)
        else:  # a <Dial>ed leg without a whisper: connected at once
            self.run(call)

    def finish(self, call: Call, status: str, duration: int | None = None) -> None:
        """End a call (and what hangs on it: its dialled leg, or the parent's <Dial>)."""
        if call.status in TERMINAL:
            return
        if duration is not None:
            call.duration = duration
        call.verbs = []
        self.set_status(call, status)
        leg = self.fake.calls.get(call.leg_sid)
        if leg is not None and leg.status not in TERMINAL:
            self.finish(
                leg, "completed" if leg.status == "in-progress" else "canceled", call.duration
            )
        call.waiting = ""
        parent = self.fake.calls.get(call.parent_sid)
        if parent is not None and parent.waiting == "dial" and parent.leg_sid == call.sid:
            self.dial_done(parent, call)

    # ------------------------------------------------------------------ documents

    def load(self, call: Call, url: str, method: str, **extra: str) -> bool:
        """Fetch a TwiML document for the call; False (and the call ended) if it failed."""
        absolute = urljoin(call.url, url) if call.url else url
        delivery = self.fake.send(absolute, method, self.params(call, **extra), call.account_sid)
        if not 200 <= delivery.status < 300:
            call.transcript.append(f"[application error: HTTP {delivery.status} from {url}]")
            self.finish(call, "failed" if call.status == "ringing" else "completed")
            return False
        call.url = absolute
        return self.parse(call, delivery.body)

    def parse(self, call: Call, body: str) -> bool:
        try:
            root = ET.fromstring(body or call.twiml)  # noqa: S314 (our own app's TwiML)
        except ET.ParseError:
            call.transcript.append("[application error: the answer is not TwiML]")
            self.finish(call, "completed")
            return False
        call.verbs = list(root)
        return True

    def run(self, call: Call) -> None:
        """Run verbs until the call waits (keys, a recording, a dialled leg) or ends."""
        while call.status not in TERMINAL and not call.waiting:
            if not call.verbs:
                self.end_of_document(call)
                return
            verb = call.verbs.pop(0)
            if call.status == "ringing" and verb.tag != "Reject":
                self.set_status(call, "in-progress")  # an inbound call is answered by TwiML
            getattr(self, f"verb_{verb.tag.lower()}", self.verb_other)(call, verb)

    def end_of_document(self, call: Call) -> None:
        parent = self.fake.calls.get(call.parent_sid)
        if parent is not None and parent.waiting == "dial" and parent.leg_sid == call.sid:
            call.bridged = parent.bridged = True  # the whisper ended: the two are connected
            call.transcript.append(f"[connected to {parent.from_}]")
            parent.transcript.append(f"[connected to {call.to}]")
            return
        self.finish(call, "completed")

    # ------------------------------------------------------------------ verbs

    def verb_say(self, call: Call, verb: ET.Element) -> None:
        call.transcript.append((verb.text or "").strip())

    def verb_play(self, call: Call, verb: ET.Element) -> None:
        call.transcript.append(f"[plays {(verb.text or '').strip()}]")

    def verb_pause(self, call: Call, verb: ET.Element) -> None:
        call.transcript.append(f"[pause {verb.get('length', '1')} s]")

    def verb_hangup(self, call: Call, verb: ET.Element) -> None:
        self.finish(call, "completed")

    def verb_reject(self, call: Call, verb: ET.Element) -> None:
        # The fake's reading: reason="busy" ends as busy, the default "rejected" as no-answer.
        self.finish(call, "busy" if verb.get("reason") == "busy" else "no-answer")

    def verb_redirect(self, call: Call, verb: ET.Element) -> None:
        self.load(call, (verb.text or "").strip(), verb.get("method", "POST"))

    def verb_gather(self, call: Call, verb: ET.Element) -> None:
        for child in verb:
            getattr(self, f"verb_{child.tag.lower()}", self.verb_other)(call, child)
        call.waiting, call.gather = "keys", dict(verb.attrib)

    def verb_record(self, call: Call, verb: ET.Element) -> None:
        call.transcript.append("[beep: recording]")
        call.waiting, call.gather = "recording", dict(verb.attrib)

    def verb_dial(self, call: Call, verb: ET.Element) -> None:
        numbers = [child for child in verb if child.tag == "Number"]
        target = (numbers[0].text if numbers else verb.text) or ""
        number = numbers[0] if numbers else ET.Element("Number")
        events = number.get("statusCallbackEvent", "completed").replace(",", " ").split()
        leg = Call(
            new_sid("CA"),
            call.account_sid,
            verb.get("callerId") or call.from_,
            target.strip(),
            "outbound-dial",
            status="queued",
            parent_sid=call.sid,
            url=urljoin(call.url, number.get("url", "")) if number.get("url") else "",
            method=number.get("method", "POST"),
            status_callback=number.get("statusCallback", ""),
            status_events=frozenset(events),
        )
        self.fake.add_call(leg)
        call.waiting, call.gather, call.leg_sid = "dial", dict(verb.attrib), leg.sid
        call.transcript.append(f"[dialling {leg.to}]")
        self.start_outbound(leg)

    def verb_other(self, call: Call, verb: ET.Element) -> None:
        call.transcript.append(f"[<{verb.tag}> is not supported by the fake]")

    # ------------------------------------------------------------------ what the person does

    def press(self, call: Call, digits: str) -> None:
        if call.waiting != "keys":
            call.transcript.append(f"[pressed {digits}: nobody listens]")
            return
        gather, call.waiting = call.gather, ""
        finish_on = gather.get("finishOnKey", "#")
        if finish_on and finish_on in digits:
            digits = digits.split(finish_on)[0]
        if gather.get("numDigits"):
            digits = digits[: int(gather["numDigits"])]
        call.transcript.append(f"[pressed {digits}]")
        if self.load(
            call, gather.get("action", call.url), gather.get("method", "POST"), Digits=digits
        ):
            self.run(call)

    def gather_timeout(self, call: Call) -> None:
        gather, call.waiting = call.gather, ""
        call.transcript.append("[no key pressed]")
        empty = gather.get("actionOnEmptyResult") == "true"
        if empty and not self.load(
            call, gather.get("action", call.url), gather.get("method", "POST"), Digits=""
        ):
            return
        self.run(call)

    def record(self, call: Call, duration: int) -> None:
        attrs, call.waiting = call.gather, ""
        sid = new_sid("RE")
        call.transcript.append(f"[recorded {duration} s]")
        if self.load(
            call,
            attrs.get("action", call.url),
            attrs.get("method", "POST"),
            RecordingSid=sid,
            RecordingUrl=f"{self.fake.url}/recordings/{sid}",
            RecordingDuration=str(duration),
        ):
            self.run(call)

    def hangup(self, call: Call, duration: int) -> None:
        status = "completed" if call.status == "in-progress" else "canceled"
        self.finish(call, status, duration)

    def dial_done(self, parent: Call, leg: Call) -> None:
        """The dialled leg ended: tell the <Dial> action, and go on with the parent."""
        attrs, parent.waiting, parent.leg_sid = parent.gather, "", ""
        if leg.bridged:
            outcome = "completed"
        elif leg.status in ("no-answer", "busy", "canceled"):
            outcome = leg.status
        else:
            outcome = "failed"  # answered, but the whisper hung up before connecting
        parent.bridged = False
        parent.transcript.append(f"[{leg.to}: {outcome}]")
        if attrs.get("action"):
            extra = {
                "DialCallStatus": outcome,
                "DialCallSid": leg.sid,
                "DialCallDuration": str(leg.duration if leg.bridged else 0),
            }
            if parent.status in TERMINAL:  # the caller hung up: told, but nothing more runs
                self.fake.send(
                    urljoin(parent.url, attrs["action"]),
                    attrs.get("method", "POST"),
                    self.params(parent, **extra),
                    parent.account_sid,
                )
                return
            if not self.load(parent, attrs["action"], attrs.get("method", "POST"), **extra):
                return
        self.run(parent)
