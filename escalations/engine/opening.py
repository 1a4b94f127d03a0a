"""A new incident's escalation, under the directives of the event that opened it.

Subscribed to the incidents hook (`EscalationsConfig.ready`): the change that creates an
incident carries the opening event's `EventDirectives` (what event orchestrations decided),
so the run starts with the right policy, or not at all, in the transaction that opens the
incident, before any notification row exists:
- policy override: the run walks that policy (a policy of the service's team, else skipped);
- escalate bypass, silence, acknowledge, resolve: no step pages anyone (`hold`); the
  override and the acknowledge timeout stay on a stopped run for a later trigger;
- escalate force: the run starts as it would anyway (a no-op unless something held it);
- notify users: those users are paged directly, once each (also with bypass), unless the
  incident is silenced, acknowledged or resolved as it opens, or the service is in
  maintenance;
- acknowledge timeout: kept on the run.
"""

from __future__ import annotations

from django.utils import timezone

from escalations.engine import paging
from escalations.engine.services import run_start
from escalations.policies.models import EscalationPolicy
from incidents import hooks
from incidents.models import Incident
from opsduty.events import EventDirectives
from opsduty.models import User
from opsduty.selectors import service_escalation_paused


def on_incident_opened(change: hooks.StatusChange) -> None:
    """The incidents hook: start a new incident's escalation; other changes are not ours."""
    if change.old_status is not None:
        return
    change.effects.extend(
        incident_escalation_open(incident=change.incident, directives=change.directives)
    )


def _policy_override(incident: Incident, policy_id: int) -> EscalationPolicy | None:
    policy = EscalationPolicy.objects.filter(
        organization_id=incident.organization_id, pk=policy_id
    ).first()
    if policy is None or policy.team_id != incident.service.team_id:
        return None
    return policy


def incident_escalation_open(*, incident: Incident, directives: EventDirectives) -> list[str]:
    """Start the escalation of an incident opened in the caller's transaction; a line per
    directive that had an effect (or why it was skipped)."""
    done: list[str] = []
    override = None
    if directives.escalation_policy_id is not None:
        override = _policy_override(incident, directives.escalation_policy_id)
        if override is None:
            done.append(
                f"policy {directives.escalation_policy_id}: skipped (not a policy of the team)"
            )
        else:
            done.append(f"escalation policy “{override.name}”")
    hold = directives.holds_paging()
    run_start(
        incident=incident,
        new=True,
        policy_override=override,
        ack_timeout_minutes=directives.ack_timeout_minutes,
        hold=hold,
    )
    if directives.escalate == "bypass":
        done.append("escalation bypassed")
    elif directives.escalate == "force" and not hold:
        done.append("escalation forced")
    if directives.ack_timeout_minutes:
        done.append(f"acknowledge timeout {directives.ack_timeout_minutes} min")
    if directives.notify_user_ids:
        done.append(_notify_users(incident, directives))
    return done


def _notify_users(incident: Incident, directives: EventDirectives) -> str:
    if directives.leaves_triggered():
        return "notify users: skipped (the incident is not triggered)"
    # Maintenance pages nobody: neither an attached incident nor one in debug maintenance.
    if incident.parent_id is not None or service_escalation_paused(
        incident.service, timezone.now()
    ):
        return "notify users: skipped (the service is in maintenance)"
    users = list(
        User.objects.filter(
            organization_id=incident.organization_id, pk__in=directives.notify_user_ids
        )
    )
    paged = paging.page_system(
        incident=incident, users=users, reason="notified by an event orchestration"
    )
    return f"notified {len(paged)} user(s) directly"
