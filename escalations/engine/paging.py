"""Responder actions beside the policy: reassign an incident to another escalation policy, and
page people directly (product spec §4).

- Reassign replaces the incident's policy for good: the run remembers it
  (`EscalationRun.policy_overridden`), so every later restart (silence end, unacknowledge,
  reopen) walks the chosen policy, not the service's. A triggered incident restarts at step 1
  at once; an acknowledged or silenced one when it is triggered again.
- Escalate runs the policy's next step now instead of after its wait (a triggered incident
  only; `expected_step` keeps a double click from skipping two steps).
- Direct paging notifies the chosen users and the pageable members of the chosen teams through
  the outbox, without touching the policy. The outbox key holds the minute, so a double click
  (or a retried request) pages each person once per minute.

`paging_targets_get` and `reassign_policy_get` turn ids from a form or an API body into the
organization's objects (unknown and foreign ids answer the same message); the services trust
their arguments but check the permission and the incident's state themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from escalations.engine.models import EscalationRun, RunState
from escalations.engine.services import run_escalate, run_start, runs_written
from escalations.notifications.services import DIRECT_PAGE_KEY_PREFIX, notify_user
from escalations.policies.models import EscalationPolicy
from incidents.log import incident_log_write
from incidents.models import Incident, LogAction, Status
from opsduty.models import Organization, Role, Team, TeamMembership, User
from opsduty.services import can_manage_team
from opsduty.tenancy import scoped

NOT_ALLOWED = "Only owners and members of the service's team can do this."


def _log(incident: Incident, by: User | None, action: str, message: str, **data: object) -> None:
    incident_log_write(incident=incident, actor=by, action=action, message=message, data=data)


def _checked(incident: Incident, by: User, verb: str) -> Incident:
    """The incident locked, after the permission and not-resolved checks."""
    if not can_manage_team(by, incident.service.team):
        raise PermissionDenied(NOT_ALLOWED)
    # The incident row first (docs/architecture.md, "Locking order"), and only that row: a
    # bare FOR UPDATE would lock the joined service too, which starting maintenance locks
    # before the service's incidents.
    incident = (
        Incident.objects.select_for_update(no_key=True, of=("self",))
        .select_related("service")
        .get(pk=incident.pk)
    )
    if incident.status == Status.RESOLVED:
        raise ValidationError(
            f"A resolved incident cannot be {verb}; reopen it first.", code="invalid_transition"
        )
    return incident


def _ids_of(
    organization: Organization, model: type[User] | type[Team], ids: Sequence[int], field: str
) -> list[int]:
    wanted = sorted(set(ids))
    found = set(scoped(model, organization).filter(pk__in=wanted).values_list("pk", flat=True))
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise ValidationError({field: f"Unknown {field}: {', '.join(map(str, missing))}."})
    return wanted


def paging_targets_get(
    *, organization: Organization, user_ids: Sequence[int], team_ids: Sequence[int]
) -> tuple[list[User], list[Team]]:
    """The organization's users and teams with these ids; ValidationError names unknown ids."""
    users = _ids_of(organization, User, user_ids, "users")
    teams = _ids_of(organization, Team, team_ids, "teams")
    return (
        list(scoped(User, organization).filter(pk__in=users).order_by("pk")),
        list(scoped(Team, organization).filter(pk__in=teams).order_by("pk")),
    )


def reassign_policy_get(*, organization: Organization, policy_id: int) -> EscalationPolicy:
    """The organization's policy with this id (any team: the service checks which), or refused."""
    policy = (
        scoped(EscalationPolicy, organization).select_related("team").filter(pk=policy_id).first()
    )
    if policy is None:
        raise ValidationError({"escalation_policy": "Unknown escalation policy."})
    return policy


def _pageable(users: Iterable[User], teams: Iterable[Team]) -> list[User]:
    """The chosen users and the teams' members, once each, minus stakeholders and deactivated."""
    chosen = {user.pk: user for user in users}
    memberships = TeamMembership.objects.filter(team__in=list(teams)).select_related("user")
    for membership in memberships:
        chosen.setdefault(membership.user_id, membership.user)
    return [
        user
        for user in sorted(chosen.values(), key=lambda u: u.pk)
        if user.is_active and user.role != Role.STAKEHOLDER
    ]


def _name(user: User) -> str:
    return user.get_full_name() or user.email


@transaction.atomic
def incident_page(
    *,
    incident: Incident,
    by: User,
    users: Sequence[User],
    teams: Sequence[Team],
    now: datetime | None = None,
) -> list[User]:
    """Notify the chosen users and teams' members now; the people paged. Policy unchanged.

    Refused for a resolved incident and when nobody pageable was chosen. Idempotent per person
    within one minute (the outbox key holds the minute).
    """
    incident = _checked(incident, by, "paged")
    targets = _pageable(users, teams)
    if not targets:
        raise ValidationError(
            "Nobody to page: choose at least one user or team with a member who is neither a "
            "stakeholder nor deactivated.",
            code="nobody_pageable",
        )
    minute = (now or timezone.now()).strftime("%Y%m%d%H%M")
    for user in targets:
        notify_user(
            incident=incident,
            user=user,
            reason=f"paged by {_name(by)}",
            key_prefix=f"{DIRECT_PAGE_KEY_PREFIX}{incident.pk}:{user.pk}:{minute}",
        )
    names = ", ".join(_name(user) for user in targets)
    _log(
        incident,
        by,
        LogAction.NOTIFICATION,
        f"Paged {names} by {_name(by)}",
        users=[user.pk for user in targets],
    )
    return targets


def _check_team(incident: Incident, policy: EscalationPolicy) -> None:
    """The same rule as services: only a policy of the service's own team."""
    team = incident.service.team
    if policy.organization_id != incident.organization_id:
        raise ValidationError({"escalation_policy": "Unknown escalation policy."})
    if policy.team_id != team.pk:
        raise ValidationError(
            {
                "escalation_policy": f"“{policy.name}” belongs to team {policy.team.name}; "
                f"an incident of {team.name} may only use that team's policies."
            }
        )


@transaction.atomic
def incident_reassign(*, incident: Incident, by: User, policy: EscalationPolicy) -> Incident:
    """Replace the incident's escalation policy; a triggered incident restarts at step 1.

    Acknowledged or silenced: the run is stopped and remembers the policy for the next
    trigger. Refused for resolved incidents and for another team's policy.
    """
    incident = _checked(incident, by, "reassigned")
    return reassign(incident=incident, policy=policy, by=by)


def reassign(*, incident: Incident, policy: EscalationPolicy, by: User | None) -> Incident:
    """Reassign without the caller checks (`by=None`: the system, e.g. an orchestration).

    Precondition: the caller holds a transaction and the incident is not resolved.
    """
    _check_team(incident, policy)
    runs_written()
    run, created = EscalationRun.objects.select_for_update().get_or_create(
        incident=incident,
        defaults={
            "organization_id": incident.organization_id,
            "state": RunState.STOPPED,
            "due_at": None,
        },
    )
    run.policy = policy
    run.policy_overridden = True
    run.save(update_fields=["policy", "policy_overridden"])
    who = _name(by) if by is not None else "an event orchestration"
    _log(
        incident,
        by,
        LogAction.ESCALATION,
        f"Reassigned to policy “{policy.name}” by {who}",
        policy=policy.pk,
    )
    if incident.status == Status.TRIGGERED:
        run_start(incident=incident)
    return incident


@transaction.atomic
def incident_escalate(*, incident: Incident, by: User, expected_step: int | None = None) -> int:
    """Escalate now: the policy's next step runs at once instead of after its wait.

    Only a triggered incident escalates (acknowledged means someone has it: page people
    directly instead); attached and maintenance incidents follow their parent or window.
    `expected_step`: see `run_escalate`. Returns the step number that ran.
    """
    incident = _checked(incident, by, "escalated")
    if incident.status != Status.TRIGGERED or incident.parent_id or incident.is_maintenance:
        raise ValidationError(
            "Only a triggered incident can be escalated: an acknowledged or silenced one is "
            "being handled (page someone to get help), an attached one follows its parent.",
            code="invalid_transition",
        )
    _log(incident, by, LogAction.ESCALATION, f"Escalated by {_name(by)}: the next step runs now.")
    return run_escalate(incident=incident, expected_step=expected_step)


def page_system(*, incident: Incident, users: Sequence[User], reason: str) -> list[User]:
    """Notify users as the system (an event orchestration), once per incident and person."""
    targets = _pageable(users, [])
    for user in targets:
        notify_user(
            incident=incident,
            user=user,
            reason=reason,
            key_prefix=f"orchestration:{incident.pk}:{user.pk}",
        )
    if targets:
        names = ", ".join(_name(user) for user in targets)
        _log(incident, None, LogAction.NOTIFICATION, f"Notified {names} ({reason})")
    return targets
