"""The development phone (owners; only where `OPSDUTY_DEV_PHONE` is on): the handsets of the
organization's people as the fake Twilio sees them (texts, calls with what was said), with
the buttons a person would press; and a form to call or text the organization's numbers.

The page talks to the fake through its `/_fake/` endpoints; the fake then calls this server
back (signed webhooks), so what a button does shows up a moment later (the threads refresh)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from integrations.twilio.devphone.forms import CallActionForm, CallForm, SmsForm
from integrations.twilio.fake.control import FakeControlError, FakeTwilioControl
from integrations.twilio.selectors import number_list
from opsduty.models import Organization
from opsduty.selectors import user_list
from opsduty.views.common import AuthedRequest, require_owner

# Calls this owner placed from numbers that are nobody's phone here (a stranger calling).
SESSION_CALLS = "dev_phone_calls"
_KEEP_CALLS = 20


@dataclass
class DevPhone:
    """One handset: whose it is, its texts and its calls (the fake's `/_fake/state` rows)."""

    number: str
    person: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)


def dev_phone_list(
    *, organization: Organization, state: dict[str, Any], call_sids: list[str]
) -> list[DevPhone]:
    """The phones of the organization's people, then the calls this owner placed as someone
    else (`call_sids`); another organization's people never appear."""
    known = {phone["number"]: phone for phone in state.get("phones", [])}
    phones: dict[str, DevPhone] = {}
    for user in user_list(organization=organization).exclude(phone_number=""):
        if user.phone_number not in phones:
            seen = known.get(user.phone_number, {})
            phones[user.phone_number] = DevPhone(
                user.phone_number,
                user.get_full_name() or user.email,
                seen.get("messages", []),
                seen.get("calls", []),
            )
    for number, phone in known.items():
        calls = [c for c in phone["calls"] if c["sid"] in call_sids]
        if calls and number not in phones:
            phones[number] = DevPhone(number, "", [], calls)
    return list(phones.values())


def _ours(request: AuthedRequest, number: str) -> bool:
    """Whether `number` is one the organization bought (the only ones this page dials)."""
    return number in {n.phone_number for n in number_list(organization=request.organization)}


def _check(request: AuthedRequest) -> None:
    if not settings.OPSDUTY_DEV_PHONE:
        raise Http404("The development phone is off (OPSDUTY_DEV_PHONE).")
    require_owner(request)


def _control() -> FakeTwilioControl:
    return FakeTwilioControl(settings.OPSDUTY_TWILIO_API_URL)


def _session_calls(request: AuthedRequest) -> list[str]:
    sids = request.session.get(SESSION_CALLS, [])
    return [str(s) for s in sids] if isinstance(sids, list) else []


def _phones(request: AuthedRequest) -> tuple[list[DevPhone], dict[str, Any], str]:
    try:
        state = _control().state()
    except (FakeControlError, ValueError) as error:
        return [], {}, str(error)
    phones = dev_phone_list(
        organization=request.organization, state=state, call_sids=_session_calls(request)
    )
    return phones, state, ""


def _done(request: AuthedRequest, step: Callable[[FakeTwilioControl], Any], success: str) -> Any:
    """Run one request to the fake; a message says how it went (None if it refused)."""
    try:
        answer = step(_control())
    except (FakeControlError, ValueError) as error:
        messages.error(request, f"The fake Twilio refused: {error}")
        return None
    messages.success(request, success)
    return answer


def _back(number: str = "") -> HttpResponseRedirect:
    response = redirect("dev_phone")
    if number:
        response["Location"] += f"#phone-{number.lstrip('+')}"
    return response


@require_GET
@login_required
def dev_phone(request: AuthedRequest) -> HttpResponse:
    """Every phone of the organization's people with its texts and calls."""
    _check(request)
    phones, state, error = _phones(request)
    known = {n["phone_number"] for a in state.get("accounts", []) for n in a["numbers"]}
    numbers = [n.phone_number for n in number_list(organization=request.organization)]
    context = {
        "phones": phones,
        "bought": numbers,
        "unknown_to_fake": [n for n in numbers if state and n not in known],
        "error": error,
        "fake_url": settings.OPSDUTY_TWILIO_API_URL,
        "keys": "123456789*0#",
        "active": "dev_phone",
    }
    return render(request, "integrations/twilio/devphone.html", context)


@require_POST
@login_required
def dev_phone_sms(request: AuthedRequest) -> HttpResponse:
    """A text from a person's phone (the reply box of a thread)."""
    _check(request)
    form = SmsForm(request.POST)
    people = {u.phone_number for u in user_list(organization=request.organization)}
    if not form.is_valid() or form.cleaned_data["from_number"] not in people:
        messages.error(request, "Write a text from one of your people's phones.")
        return _back()
    if not _ours(request, form.cleaned_data["to_number"]):
        messages.error(request, "Text one of your organization's Twilio numbers.")
        return _back()
    data = form.cleaned_data
    _done(
        request,
        lambda c: c.sms(data["from_number"], data["to_number"], data["body"]),
        f"Texted {data['to_number']} from {data['from_number']}.",
    )
    return _back(data["from_number"])


@require_POST
@login_required
def dev_phone_call(request: AuthedRequest) -> HttpResponse:
    """A call from a phone (a person's or any number) to a bought number."""
    _check(request)
    form = CallForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give both numbers in E.164 format, e.g. +14155550100.")
        return _back()
    if not _ours(request, form.cleaned_data["to_number"]):
        messages.error(request, "Call one of your organization's Twilio numbers.")
        return _back()
    data = form.cleaned_data
    sid = _done(
        request,
        lambda c: c.call(data["from_number"], data["to_number"]),
        f"Calling {data['to_number']} from {data['from_number']}.",
    )
    if sid:
        request.session[SESSION_CALLS] = [sid, *_session_calls(request)][:_KEEP_CALLS]
    return _back(data["from_number"])


@require_POST
@login_required
def dev_phone_call_action(request: AuthedRequest, call_sid: str) -> HttpResponse:
    """What a phone does on one of its calls: answer, press keys, hang up..."""
    _check(request)
    phones, _, _ = _phones(request)
    owner = next((p for p in phones for c in p.calls if c["sid"] == call_sid), None)
    if owner is None:
        raise Http404("No such call on your people's phones.")
    form = CallActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return _back(owner.number)
    data = {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}
    action = data.pop("action")
    _done(request, lambda c: c.act(call_sid, action, **data), f"{action.capitalize()}: done.")
    return _back(owner.number)
