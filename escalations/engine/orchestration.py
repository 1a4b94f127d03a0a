"""What event orchestrations ask of escalation, applied to the incident an event opened.

The pipeline (`processing/pipeline/steps.py`) calls this after ingest, as the system: notify
users directly, override the escalation policy, bypass or force escalation.
"""

from __future__ import annotations

from escalations.engine import paging
from escalations.engine import services as engine
from escalations.engine.models import EscalationRun, RunState
from escalations.models import EscalationPolicy
from escalations.notifications.services import notifications_cancel_for
from incidents.models import Incident, Status
from opsduty.models import User


def orchestration_escalation_apply(
    *,
    incident: Incident,
    escalate: str | None,
    escalation_policy_id: int | None,
    notify_user_ids: list[int],
    ack_timeout_minutes: int | None = None,
) -> list[str]:
    """Apply the escalation transformations; a line per effect (or why it was skipped)."""
    done: list[str] = []
    if escalation_policy_id is not None:
        policy = EscalationPolicy.objects.filter(
            organization_id=incident.organization_id, pk=escalation_policy_id
        ).first()
        if policy is None or policy.team_id != incident.service.team_id:
            done.append(f"policy {escalation_policy_id}: skipped (not a policy of the team)")
        else:
            paging.reassign(incident=incident, policy=policy, by=None)
            done.append(f"escalation policy “{policy.name}”")
    if escalate == "bypass":
        # Step 1 already ran with the incident: take back what it queued, then stop.
        notifications_cancel_for(incident)
        engine.run_stop(incident=incident, reason="an event orchestration bypasses escalation")
        done.append("escalation bypassed")
    elif escalate == "force" and incident.status == Status.TRIGGERED:
        running = EscalationRun.objects.filter(incident=incident, state=RunState.ACTIVE).exists()
        if not running:
            engine.run_start(incident=incident)
        done.append("escalation forced")
    if ack_timeout_minutes:
        run, _ = EscalationRun.objects.select_for_update().get_or_create(
            incident=incident,
            defaults={"organization_id": incident.organization_id, "state": RunState.STOPPED},
        )
        run.ack_timeout_minutes = ack_timeout_minutes
        run.save(update_fields=["ack_timeout_minutes"])
        done.append(f"acknowledge timeout {ack_timeout_minutes} min")
    if notify_user_ids:
        users = list(
            User.objects.filter(organization_id=incident.organization_id, pk__in=notify_user_ids)
        )
        paged = paging.page_system(
            incident=incident, users=users, reason="notified by an event orchestration"
        )
        done.append(f"notified {len(paged)} user(s) directly")
    return done
