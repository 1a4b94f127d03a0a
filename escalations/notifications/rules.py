"""A user's notification policy: ordered (delay, channel) rules per urgency, with defaults."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from escalations.notifications.models import (
    MAX_DELAY_MINUTES,
    MAX_RULES,
    Channel,
    NotificationRule,
    RuleUrgency,
)
from opsduty import rawsql
from opsduty.audit import audit_record
from opsduty.models import Organization, User

# Sensible defaults (product spec §5.4): high urgency wakes you up, low urgency emails.
DEFAULT_RULES: dict[str, list[tuple[int, str]]] = {
    RuleUrgency.HIGH: [(0, Channel.EMAIL), (0, Channel.SMS), (5, Channel.VOICE)],
    RuleUrgency.LOW: [(0, Channel.EMAIL)],
}
PHONE_CHANNELS = (Channel.SMS, Channel.VOICE)


@dataclass(frozen=True)
class RuleInput:
    """One rule as a caller asks for it (the UI's row, an API body)."""

    delay_minutes: int
    channel: str


def _create(
    user: User, urgency: str, rules: Sequence[tuple[int, str]], *, recorded: bool = True
) -> None:
    created = NotificationRule.objects.bulk_create(
        NotificationRule(
            organization_id=user.organization_id,
            user=user,
            urgency=urgency,
            position=position,
            delay_minutes=delay,
            channel=channel,
        )
        for position, (delay, channel) in enumerate(rules)
    )
    # bulk_create sends no model signals: the audit log is written here. The defaults are
    # not (they are what the person had until now, written on first read: often while
    # paging them, and the paging path writes no entry).
    for rule in created if recorded else ():
        changes = {"urgency": rule.urgency, "delay_minutes": rule.delay_minutes}
        changes |= {"channel": rule.channel, "position": rule.position}
        audit_record(
            instance=rule, action="create", changes={k: (None, v) for k, v in changes.items()}
        )


@transaction.atomic
def notification_rules_ensure_defaults(*, user: User) -> None:
    """Create the default rules for a user who has none (both urgencies, once)."""
    if NotificationRule.objects.filter(user=user).exists():
        return
    # Two first reads at once (a page view and a notification): the user row lock serializes
    # them, and the second sees the first one's rules.
    User.objects.select_for_update().filter(pk=user.pk).first()
    if NotificationRule.objects.filter(user=user).exists():
        return
    for urgency, rules in DEFAULT_RULES.items():
        _create(user, urgency, rules, recorded=False)


# Plain SQL (opsduty.rawsql): every notify step reads it.
_RULES_SQL = (
    f"SELECT {', '.join(rawsql.columns(NotificationRule))}"  # noqa: S608 - our table
    f" FROM {NotificationRule._meta.db_table}"
    " WHERE organization_id = %s AND user_id = %s AND urgency = %s ORDER BY position"
)


def _rules(user: User, urgency: str) -> list[NotificationRule]:
    return rawsql.fetch_all(NotificationRule, _RULES_SQL, [user.organization_id, user.pk, urgency])


def notification_rule_list(*, user: User, urgency: str) -> list[NotificationRule]:
    """The user's rules for one urgency, in order; defaults are created on first read."""
    rules = _rules(user, urgency)
    if rules:
        return rules
    notification_rules_ensure_defaults(user=user)
    return _rules(user, urgency)


def _validate(urgency: str, rules: Sequence[RuleInput]) -> None:
    errors: list[str] = []
    if urgency not in RuleUrgency.values:
        errors.append(f"Unknown urgency “{urgency}” (use high or low).")
    if len(rules) > MAX_RULES:
        errors.append(f"At most {MAX_RULES} rules per urgency ({len(rules)} given).")
    for number, rule in enumerate(rules, start=1):
        delay = rule.delay_minutes
        if isinstance(delay, bool) or not isinstance(delay, int):
            errors.append(f"Rule {number}: the delay must be a whole number of minutes.")
        elif not 0 <= delay <= MAX_DELAY_MINUTES:
            errors.append(f"Rule {number}: the delay must be 0 to {MAX_DELAY_MINUTES} minutes.")
        if rule.channel not in Channel.values:
            known = ", ".join(Channel.values)
            errors.append(f"Rule {number}: unknown channel “{rule.channel}” (use {known}).")
    if errors:
        raise ValidationError(errors, code="invalid_rules")


@transaction.atomic
def notification_rules_replace(
    *, user: User, urgency: str, rules: Sequence[RuleInput]
) -> list[NotificationRule]:
    """Replace the user's rules for one urgency (ordered by delay); refuses invalid rules.

    SMS and voice are accepted without a phone number: diagnostics flag that user instead,
    so a policy can be set up before the number is known.
    """
    _validate(urgency, rules)
    notification_rules_ensure_defaults(user=user)
    NotificationRule.objects.filter(user=user, urgency=urgency).delete()
    ordered = sorted(rules, key=lambda rule: rule.delay_minutes)  # stable: ties keep order
    _create(user, urgency, [(rule.delay_minutes, rule.channel) for rule in ordered])
    return notification_rule_list(user=user, urgency=urgency)


@dataclass(frozen=True)
class ContactProblem:
    user: User
    problems: list[str]


def _problems(user: User, channels: Iterable[str]) -> list[str]:
    used = set(channels)
    problems = []
    if used & set(PHONE_CHANNELS) and not user.phone_number:
        names = " and ".join(Channel(c).label for c in PHONE_CHANNELS if c in used)
        problems.append(f"{names} rules but no phone number")
    if Channel.EMAIL in used and not user.email:
        problems.append("Email rules but no email address")
    return problems


def users_channels(organization: Organization) -> list[tuple[User, set[str]]]:
    """Active responders with the channels their rules use; users who never opened their
    rules are judged by the defaults they would get (two queries)."""
    users = list(User.objects.for_org(organization).active().exclude(role="stakeholder"))
    channels: dict[int, set[str]] = {user.pk: set() for user in users}
    rows = NotificationRule.objects.for_org(organization).values_list("user_id", "channel")
    has_rules: set[int] = set()
    for user_id, channel in rows:
        if user_id in channels:
            channels[user_id].add(channel)
            has_rules.add(user_id)
    default_channels = {c for rules in DEFAULT_RULES.values() for _, c in rules}
    return [
        (user, channels[user.pk] if user.pk in has_rules else default_channels) for user in users
    ]


def users_without_contact(
    organization: Organization, channels: list[tuple[User, set[str]]] | None = None
) -> list[ContactProblem]:
    """Active responders whose rules use a channel they have no contact for (diagnostics);
    `channels`: `users_channels(organization)` when the caller has read it already."""
    found = []
    for user, used in channels if channels is not None else users_channels(organization):
        problems = _problems(user, used)
        if problems:
            found.append(ContactProblem(user=user, problems=problems))
    return found
