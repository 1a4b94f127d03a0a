"""Reads of incoming-call routing: the call (scoped to the organization) and who to try."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from escalations.engine.targets import NOTIFY_KINDS, step_targets
from escalations.policies.selectors import policy_steps
from integrations.twilio.models import CallDestination, CallKind, PhoneCall, TwilioNumber
from opsduty.models import Service, User


class PlanEntry(TypedDict):
    """One person to dial: the policy step (1-based) that pages them and their user id."""

    step: int
    user: int


def routing_plan(*, service: Service, at: datetime) -> list[PlanEntry]:
    """Who the service's escalation policy pages at `at`, step by step, each person once,
    only those with a verified phone (`step_targets` resolves users, teams and who is on
    call in a schedule, and leaves out stakeholders and inactive people, as the engine)."""
    policy = service.escalation_policy
    if policy is None:
        return []
    plan: list[PlanEntry] = []
    seen: set[int] = set()
    for step in policy_steps(policy):
        if step.kind not in NOTIFY_KINDS:
            continue
        for user in step_targets(step, at).users:
            if user.pk not in seen and user.phone_verified:
                seen.add(user.pk)
                plan.append({"step": step.position + 1, "user": user.pk})
    return plan


def incoming_call_get(*, organization_id: int, call_id: int) -> PhoneCall | None:
    """An incoming call of the organization by id (another organization's id: None)."""
    return (
        PhoneCall.objects.select_related("incident__service", "destination__service", "number")
        .filter(organization_id=organization_id, pk=call_id, kind=CallKind.INCOMING)
        .first()
    )


def plan_person(call: PhoneCall, position: int) -> User | None:
    """The person at `position` of the call's plan, if still active with a phone number."""
    if not 0 <= position < len(call.plan):
        return None
    people = User.objects.filter(organization_id=call.organization_id, is_active=True)
    return people.exclude(phone_number="").filter(pk=call.plan[position]["user"]).first()


def destination_for_digit(*, number: TwilioNumber, digits: str) -> CallDestination | None:
    """The destination a caller chose with a key on `number` (None: not an option)."""
    if len(digits) != 1 or not digits.isdigit():
        return None
    return number.destinations.select_related("service").filter(digit=int(digits)).first()
