"""Notification rules: defaults on first read, validation, diagnostics."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from escalations.models import NotificationRule
from escalations.notifications.rules import (
    RuleInput,
    notification_rule_list,
    notification_rules_replace,
    users_without_contact,
)
from opsduty.models import Organization, User
from tests import factories


def _pairs(rules: list[NotificationRule]) -> list[tuple[int, str]]:
    return [(rule.delay_minutes, rule.channel) for rule in rules]


@pytest.mark.django_db
def test_defaults_are_created_on_first_read(member: User) -> None:
    assert not NotificationRule.objects.filter(user=member).exists()
    high = notification_rule_list(user=member, urgency="high")
    assert _pairs(high) == [(0, "email"), (0, "sms"), (5, "voice")]
    assert _pairs(notification_rule_list(user=member, urgency="low")) == [(0, "email")]
    # A second read does not add more.
    assert len(notification_rule_list(user=member, urgency="high")) == 3
    assert NotificationRule.objects.filter(user=member).count() == 4
    assert {r.organization_id for r in high} == {member.organization_id}


@pytest.mark.django_db
def test_replace_orders_by_delay_and_keeps_the_other_urgency(member: User) -> None:
    rules = notification_rules_replace(
        user=member,
        urgency="high",
        rules=[RuleInput(10, "voice"), RuleInput(0, "slack"), RuleInput(0, "email")],
    )
    assert _pairs(rules) == [(0, "slack"), (0, "email"), (10, "voice")]
    assert [r.position for r in rules] == [0, 1, 2]
    assert _pairs(notification_rule_list(user=member, urgency="low")) == [(0, "email")]
    assert notification_rules_replace(user=member, urgency="low", rules=[]) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([RuleInput(-1, "email")], "Rule 1: the delay must be 0 to 1440 minutes."),
        ([RuleInput(0, "email"), RuleInput(1441, "sms")], "Rule 2: the delay must be 0 to 1440"),
        ([RuleInput(0, "pager")], "Rule 1: unknown channel “pager”"),
        ([RuleInput(i, "email") for i in range(11)], "At most 10 rules per urgency (11 given)."),
        ([RuleInput(True, "email")], "Rule 1: the delay must be a whole number of minutes."),  # noqa: FBT003
    ],
)
def test_invalid_rules_are_refused_and_nothing_changes(
    member: User, rules: list[RuleInput], message: str
) -> None:
    before = _pairs(notification_rule_list(user=member, urgency="high"))
    with pytest.raises(ValidationError) as error:
        notification_rules_replace(user=member, urgency="high", rules=rules)
    assert any(m.startswith(message) for m in error.value.messages), error.value.messages
    assert _pairs(notification_rule_list(user=member, urgency="high")) == before


@pytest.mark.django_db
def test_unknown_urgency_is_refused(member: User) -> None:
    with pytest.raises(ValidationError, match="Unknown urgency"):
        notification_rules_replace(user=member, urgency="medium", rules=[])


@pytest.mark.django_db
def test_sms_without_phone_is_allowed_but_flagged(
    org_a: Organization, member: User, owner: User, stakeholder: User, outsider: User
) -> None:
    owner.phone_number = "+15550100"
    owner.save()
    notification_rules_replace(user=member, urgency="high", rules=[RuleInput(0, "sms")])
    found = {p.user.pk: p.problems for p in users_without_contact(org_a)}
    # The member (explicit SMS rule, no phone) is flagged; the owner has a phone; the
    # stakeholder is never notified; the outsider is another organization.
    assert found == {member.pk: ["SMS rules but no phone number"]}
    other = factories.make_user(organization=org_a, email="x@a.example")
    found = {p.user.pk: p.problems for p in users_without_contact(org_a)}
    assert found[other.pk] == ["SMS and Voice call rules but no phone number"]  # defaults
    notification_rules_replace(user=member, urgency="high", rules=[RuleInput(0, "email")])
    assert member.pk not in {p.user.pk for p in users_without_contact(org_a)}
