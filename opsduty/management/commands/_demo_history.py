"""The demo's last 90 days (seed_demo): a few hundred incidents on API and Checkout, paged,
acknowledged by the demo people, some escalated, resolved, so that every analytics tab has
figures from the first minute. Written at once (bulk inserts, no hooks: nobody is paged and
nothing is left due), then the analytics are rebuilt for the demo.

Once per demo: the history's incidents carry dedup ids `demo-history-<n>`; a demo that has one
is left alone. All are resolved but the last three (acknowledged, their escalation stopped).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction

from analytics.services import analytics_rebuild
from escalations.engine.models import EscalationRun, RunState
from escalations.models import EscalationPolicy
from escalations.notifications.models import Channel, Notification, NotificationStatus
from incidents.models import (
    Incident,
    IncidentCounter,
    IncidentEvent,
    IncidentLogEntry,
    LogAction,
    Status,
    Urgency,
)
from opsduty.models import Organization, Service, User

__all__ = ["DEMO_HISTORY_DAYS", "DEMO_HISTORY_PREFIX", "demo_history_write"]

DEMO_HISTORY_DAYS = 90
DEMO_HISTORY_PREFIX = "demo-history-"
OPEN_AT_THE_END = 3
SEED = 20260301

# routing key -> (share of the incidents, step 1 on-call emails (alternating weekly), level 2
# emails, alert summaries)
_SERVICES: dict[str, tuple[float, list[str], list[str], list[str]]] = {
    "demo-api": (
        0.6,
        ["alice@demo.example", "bob@demo.example"],
        ["owner@demo.example", "alice@demo.example", "bob@demo.example"],
        [
            "HighErrorRate: 5xx above 5% on /v1/orders",
            "API p99 latency above 2 s",
            "Disk 91% full on db-1",
            "Pod crash-looping: api-worker",
            "Certificate for api.demo.example expires in 7 days",
        ],
    ),
    "demo-checkout": (
        0.4,
        ["alice@demo.example"],
        ["owner@demo.example"],
        [
            "Payment provider timeouts",
            "Checkout p99 above 2 s",
            "Card declines above 10%",
            "Refund queue backing up",
        ],
    ),
}


@dataclass
class _Rows:
    """What the history inserts, incident by incident (its index in `incidents`)."""

    incidents: list[Incident] = field(default_factory=list)
    events: list[tuple[int, IncidentEvent]] = field(default_factory=list)
    log: list[tuple[int, IncidentLogEntry]] = field(default_factory=list)
    notifications: list[tuple[int, Notification]] = field(default_factory=list)
    runs: list[tuple[int, EscalationRun]] = field(default_factory=list)


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def _name(user: User) -> str:
    return user.get_full_name() or user.email


class _History:
    """The incidents of the last DEMO_HISTORY_DAYS days before `now`, as rows."""

    def __init__(self, organization: Organization, now: datetime) -> None:
        self.organization, self.now = organization, now
        self.rng = random.Random(SEED)  # noqa: S311 - sample data, not secrets
        self.people = {u.email: u for u in User.objects.filter(organization=organization)}
        self.services = {
            s.routing_key: s
            for s in Service.objects.filter(organization=organization, routing_key__in=_SERVICES)
        }
        self.policies = {
            p.pk: p.name
            for p in EscalationPolicy.objects.filter(organization=organization).only("name")
        }
        self.rows = _Rows()

    def build(self) -> _Rows:
        times = self._created_times()
        for n, created in enumerate(times):
            self._incident(n, created, is_open=n >= len(times) - OPEN_AT_THE_END)
        return self.rows

    def _created_times(self) -> list[datetime]:
        """A few a day over the last DEMO_HISTORY_DAYS days of the organization (today
        included), at local hours; the open ones in the last hours."""
        zone = _zone(self.organization.time_zone)
        today = self.now.astimezone(zone).date()
        times = []
        for back in range(DEMO_HISTORY_DAYS):
            day = today - timedelta(days=back)
            for _ in range(self.rng.randint(2, 6)):
                hour = self.rng.choice((2, 8, 9, 10, 11, 13, 14, 15, 16, 17, 20, 23))
                local = datetime.combine(day, time(hour, self.rng.randrange(60)), tzinfo=zone)
                times.append(local.astimezone(UTC))
        latest = self.now - timedelta(hours=6)
        return sorted(t for t in times if t < latest) + [
            latest + timedelta(hours=n + 1) for n in range(OPEN_AT_THE_END)
        ]

    def _line(
        self, at: datetime, action: str, message: str, actor: User | None = None, **data: Any
    ) -> None:
        entry = IncidentLogEntry(
            organization=self.organization, actor=actor, action=action, message=message,
            data=data, created_at=at,
        )  # fmt: skip
        self.rows.log.append((len(self.rows.incidents) - 1, entry))

    def _page(self, at: datetime, user: User, step: int, channel: str) -> None:
        index = len(self.rows.incidents) - 1
        self.rows.notifications.append(
            (
                index,
                Notification(
                    organization=self.organization,
                    user=user,
                    channel=channel,
                    reason=f"escalation step {step}",
                    due_at=at,
                    idempotency_key=f"{DEMO_HISTORY_PREFIX}{index}:{step}:{user.pk}",
                    status=NotificationStatus.SENT,
                    attempts=1,
                    sent_at=at + timedelta(seconds=2),
                    created_at=at,
                ),
            )
        )
        label = Channel(channel).label
        self._line(
            at + timedelta(seconds=2),
            LogAction.NOTIFICATION,
            f"{label} to {_name(user)}: sent",
            attempt=1,
            sent_to=user.pk,
            channel=channel,
        )

    def _service(self) -> tuple[str, Service]:
        key = "demo-api" if self.rng.random() < _SERVICES["demo-api"][0] else "demo-checkout"
        return key, self.services[key]

    def _incident(self, n: int, created: datetime, *, is_open: bool) -> None:
        rng = self.rng
        key, service = self._service()
        _, oncall, level_two, summaries = _SERVICES[key]
        first = self.people[oncall[created.isocalendar().week % len(oncall)]]
        high = rng.random() < 0.75
        escalated = not is_open and rng.random() < 0.12
        acked_at: datetime | None = None
        acker = first
        if is_open or rng.random() < 0.8:
            acker = self.people[rng.choice(level_two)] if escalated else first
            delay = 330 + _lognormal(rng, 120, 0.8) if escalated else _lognormal(rng, 150, 1.0)
            acked_at = created + timedelta(seconds=delay)
        signal_at = None
        if acked_at is None and rng.random() < 0.3:  # acknowledged by the monitoring tool
            signal_at = created + timedelta(seconds=rng.randint(30, 240))
        resolved_at = None
        if not is_open:
            since = acked_at or signal_at or created
            resolved_at = since + timedelta(seconds=_lognormal(rng, 1800, 1.1))
        summary = summaries[n % len(summaries)]
        incident = Incident(
            organization=self.organization,
            number=0,  # numbered in demo_history_write
            service=service,
            summary=summary,
            urgency=Urgency.HIGH if high else Urgency.LOW,
            status=Status.ACKNOWLEDGED if is_open else Status.RESOLVED,
            dedup_id=f"{DEMO_HISTORY_PREFIX}{n}",
            created_at=created,
            acknowledged_at=acked_at or signal_at,
            resolved_at=resolved_at,
            last_status_change_at=resolved_at or acked_at or signal_at or created,
            version=2,
        )
        self.rows.incidents.append(incident)
        self.rows.events.append(
            (
                len(self.rows.incidents) - 1,
                IncidentEvent(
                    organization=self.organization,
                    summary=summary,
                    dedup_id=incident.dedup_id,
                    payload={"source": "demo history"},
                    received_at=created,
                    created_at=created,
                ),
            )
        )
        self._log(incident, first, acker, acked_at, escalated=escalated, signal_at=signal_at)

    def _log(
        self,
        incident: Incident,
        first: User,
        acker: User,
        acked_at: datetime | None,
        *,
        escalated: bool,
        signal_at: datetime | None,
    ) -> None:
        created, service = incident.created_at, incident.service
        _, _, level_two, _ = _SERVICES[service.routing_key]
        policy = self.policies.get(service.escalation_policy_id or 0, "")
        channel = self.rng.choice(
            (Channel.SMS, Channel.SMS, Channel.VOICE, Channel.SLACK)
            if incident.urgency == Urgency.HIGH
            else (Channel.EMAIL, Channel.SLACK)
        )
        self._line(created, LogAction.CREATED, "Opened by an event.")
        self._line(created, LogAction.ESCALATION, f"Escalation policy “{policy}” started.")
        self._line(
            created, LogAction.ESCALATION, f"Step 1: notifying {_name(first)}.", level=1,
            manual=False,
        )  # fmt: skip
        self._page(created, first, 1, channel)
        if escalated:
            wait = 5 if service.routing_key == "demo-api" else 10
            at = created + timedelta(minutes=wait)
            people = [self.people[email] for email in level_two]
            names = ", ".join(_name(p) for p in people)
            self._line(
                at, LogAction.ESCALATION, f"Step 3: notifying {names}.", level=2, manual=False
            )
            for person in people:
                self._page(at, person, 3, channel)
        if acked_at is not None:
            self._line(acked_at, LogAction.ACKNOWLEDGED, f"Acknowledged by {_name(acker)}.", acker)
        elif signal_at is not None:
            self._line(signal_at, LogAction.ACKNOWLEDGED, "Acknowledged by an event.")
        if incident.resolved_at is not None:
            # Acknowledged: mostly closed by the person; not: mostly by the monitoring tool.
            by_person = self.rng.random() < (0.85 if acked_at is not None else 0.25)
            who = acker if by_person else None
            message = f"Resolved by {_name(acker)}." if who else "Resolved by an event."
            self._line(incident.resolved_at, LogAction.RESOLVED, message, who)
        state = (
            RunState.STOPPED
            if incident.acknowledged_at or incident.resolved_at
            else RunState.FINISHED
        )
        run = EscalationRun(
            organization=self.organization,
            policy_id=service.escalation_policy_id,
            state=state,
            step_index=3 if escalated else 2,
            started_at=created,
            updated_at=incident.last_status_change_at,
            version=2,
        )
        self.rows.runs.append((len(self.rows.incidents) - 1, run))


def _numbered(organization: Organization, incidents: list[Incident]) -> None:
    """Number the incidents after the organization's last number (its counter row locked)."""
    counter, _ = IncidentCounter.objects.select_for_update().get_or_create(
        organization=organization
    )
    for offset, incident in enumerate(incidents, start=1):
        incident.number = counter.last_number + offset
    counter.last_number += len(incidents)
    counter.save(update_fields=["last_number"])


@transaction.atomic
def demo_history_write(*, organization: Organization, now: datetime) -> int:
    """Write the demo's history once (none if it has it already) and rebuild its analytics;
    how many incidents were written."""
    if Incident.objects.filter(
        organization=organization, dedup_id__startswith=DEMO_HISTORY_PREFIX
    ).exists():
        return 0
    rows = _History(organization, now).build()
    _numbered(organization, rows.incidents)
    incidents = Incident.objects.bulk_create(rows.incidents)
    for related in (rows.events, rows.log, rows.notifications, rows.runs):
        for index, row in related:
            row.incident = incidents[index]
    IncidentEvent.objects.bulk_create([row for _, row in rows.events])
    IncidentLogEntry.objects.bulk_create([row for _, row in rows.log])
    Notification.objects.bulk_create([row for _, row in rows.notifications])
    EscalationRun.objects.bulk_create([row for _, row in rows.runs])
    analytics_rebuild(organizations=[organization])
    return len(incidents)
