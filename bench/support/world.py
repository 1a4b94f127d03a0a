"""A bench organization whose one member is paged by email on "notify; wait 1 minute;
notify" (bench/escalation.py, bench/chaos.py). Call after django.setup()."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class PagedTeam:
    organization: Any
    team: Any
    member: Any
    policy: Any


def paged_team(*, name: str, domain: str) -> PagedTeam:
    """A new organization `domain` with team `name`, its member (email at 0 minutes only: one
    row per notify step, no 5-minute voice rows left pending) and the policy."""
    from escalations.notifications.models import Channel
    from escalations.notifications.rules import RuleInput, notification_rules_replace
    from escalations.policies import services as policies
    from escalations.policies.models import StepKind
    from incidents.models import Urgency
    from opsduty import services
    from opsduty.models import Team

    organization = services.organization_create(name=name, domain=domain)
    team = Team.objects.create(organization=organization, name=name)
    member = services.user_create(
        organization=organization, email=f"oncall@{domain}.test", password=None, first_name="On"
    )
    services.team_add_member(team=team, user=member, by=None)
    notification_rules_replace(
        user=member, urgency=Urgency.HIGH, rules=[RuleInput(0, Channel.EMAIL)]
    )
    policy = policies.policy_create(team=team, by=None, name=name)
    policies.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    policies.step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=1)
    policies.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    return PagedTeam(organization, team, member, policy)
