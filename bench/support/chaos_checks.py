"""The reconciliation of bench/chaos.py: what the load generator was told against what the
database and the fake email provider hold. Each function returns figures plus `failures`
(losses, duplicates, late steps); the rig exits non-zero when any is not 0."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.support import stats
from bench.support.chaos_load import ESCALATING, LIFECYCLE, Attempt, Load
from bench.support.chaos_mail import deliveries
from bench.support.chaos_supervise import Outage

LATE_AFTER_BACK = 10.0  # seconds: the promise for a step that fell due while something was down
SAMPLES = 5  # examples kept per kind of failure


def _ms(values: list[float]) -> dict[str, Any]:
    return stats.ms(values, digits=0)


# What an escalation step and a heartbeat miss need: the escalator runs them, beat's sweepers
# and the detector's schedule start them, the ETA tasks wait in Redis, the rows in PostgreSQL.
# A web or ingest worker outage excuses no lateness.
TIMERS_NEED = frozenset({"escalator", "beat", "redis", "postgres"})


def effective_due(due: float, fired: float, outages: list[Outage]) -> float:
    """The due time, or later when a component the timers need was down at it: the latest
    time such a unit was back, among the outages overlapping [due, fired]; never after
    `fired` (a worker takes tasks a moment before it answers the rig's ping, so a timer can
    fire just before its unit is "back": it was on time)."""
    backs = [
        o.back_at
        for o in outages
        if o.kind in TIMERS_NEED and o.killed_at <= fired and o.back_at >= due
    ]
    return min(fired, max([due, *backs]))


def http_figures(load: Load) -> dict[str, Any]:
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for a in load.attempts:
        by_kind[a.kind][str(a.status) if a.status else f"no answer ({a.error})"] += 1
    seconds = max(1.0, load.stopped_at - load.started_at)
    webhooks = sum(1 for a in load.attempts if a.kind != "checkin")
    return {
        "attempts_by_kind_and_answer": {k: dict(sorted(v.items())) for k, v in by_kind.items()},
        "webhook_attempts_per_second": round(webhooks / seconds, 1),
        "load_seconds": round(seconds, 1),
        "lifecycle_keys": len(load.lifecycle_keys),
        "escalating_keys": len(load.escalating_keys),
        "events_given_up_after_retries": len(load.abandoned),
    }


def events(org: Any, load: Load) -> dict[str, Any]:
    """Every 2xx has exactly one stored raw event; every raw event processed exactly once."""
    from incidents.models import IncidentEvent
    from signals.models import RawEvent

    attempts = {a.chaos_id: a for a in load.attempts if a.kind != "checkin"}
    stored: Counter[str] = Counter()
    raw_status: Counter[str] = Counter()
    for chaos_id, status in RawEvent.objects.filter(organization=org).values_list(
        "body__chaos_id", "status"
    ):
        stored[chaos_id] += 1
        raw_status[status] += 1
    processed: Counter[str] = Counter(
        IncidentEvent.objects.filter(organization=org, payload__has_key="chaos_id").values_list(
            "payload__chaos_id", flat=True
        )
    )

    def ok(a: Attempt) -> bool:
        return 200 <= a.status < 300

    lost = [i for i, a in attempts.items() if ok(a) and stored[i] == 0]
    twice = [i for i in stored if stored[i] > 1]
    not_once = [i for i in stored if processed[i] != 1]
    refused_stored = [i for i, a in attempts.items() if a.status and not ok(a) and stored[i]]
    unanswered_stored = [i for i, a in attempts.items() if not a.status and stored[i]]
    failures = {
        "answered_2xx_not_stored": len(lost),
        "stored_more_than_once": len(twice),
        "raw_events_not_processed_exactly_once": len(not_once),
    }
    return {
        "answered_2xx": sum(1 for a in attempts.values() if ok(a)),
        "raw_events_stored": sum(stored.values()),
        "raw_events_by_status": dict(raw_status),
        "incident_events_from_the_load": sum(processed.values()),
        "refused_non_2xx_but_stored": len(refused_stored),
        "no_answer_but_stored": len(unanswered_stored),
        "no_answer_not_stored": sum(1 for a in attempts.values() if not a.status)
        - len(unanswered_stored),
        "processed_more_than_once": sum(1 for i in not_once if processed[i] > 1),
        "examples": {
            "answered_2xx_not_stored": [_attempt(attempts[i]) for i in lost[:SAMPLES]],
            "refused_but_stored": [_attempt(attempts[i]) for i in refused_stored[:SAMPLES]],
            "not_processed_exactly_once": [
                {"chaos_id": i, "stored": stored[i], "incident_events": processed[i]}
                for i in not_once[:SAMPLES]
            ],
        },
        "failures": failures,
    }


def _attempt(a: Attempt) -> dict[str, Any]:
    return {"key": a.key, "step": a.step, "status": a.status, "sent": _iso(a.sent)}


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="milliseconds")


def incidents(org: Any, load: Load, services: dict[str, Any]) -> dict[str, Any]:
    """One incident per dedup key; a key whose events all got 2xx ends resolved."""
    from incidents.models import Incident

    rows: dict[str, list[str]] = defaultdict(list)
    for dedup, status in Incident.objects.filter(
        organization=org, service__in=[services["lifecycle"], services["escalating"]]
    ).values_list("dedup_id", "status"):
        rows[dedup].append(status)
    abandoned = {key for _, key, _ in load.abandoned}
    wrong_count = [k for k in load.lifecycle_keys + load.escalating_keys if len(rows[k]) != 1]
    unresolved = [
        k
        for k in load.lifecycle_keys
        if k not in abandoned and len(rows[k]) == 1 and rows[k][0] != "resolved"
    ]
    not_triggered = [
        k for k in load.escalating_keys if len(rows[k]) == 1 and rows[k][0] != "triggered"
    ]
    causes = _extra_incident_causes(org, wrong_count)
    return {
        "keys": len(load.lifecycle_keys) + len(load.escalating_keys),
        "incidents": sum(len(v) for v in rows.values()),
        "keys_with_extra_incidents_by_cause": dict(Counter(c["cause"] for c in causes.values())),
        "examples": {
            "not_one_incident": {k: causes[k] for k in wrong_count[:SAMPLES]},
            "lifecycle_not_resolved": {k: rows[k] for k in unresolved[:SAMPLES]},
        },
        "failures": {
            "keys_without_exactly_one_incident": len(wrong_count),
            "lifecycle_keys_not_resolved": len(unresolved),
            "escalating_keys_not_triggered": len(not_triggered),
        },
    }


def _extra_incident_causes(org: Any, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Why a key has not exactly one incident, from its raw events (one query for all keys):
    `not processed` when some are still pending, `out of order` when an event accepted
    earlier was committed after a later one (two drains took the key's events at once),
    `retried event` when the sender retried an event (the first attempt stored but not
    answered 2xx), else `other`."""
    from signals.models import RawEvent

    wanted = set(keys)
    by_key: dict[str, list[tuple[int, str, Any, Any, str]]] = defaultdict(list)
    for row in (
        RawEvent.objects.filter(organization=org)
        .order_by("id")
        .values_list(
            "body__dedup_id", "id", "body__chaos_step", "processed_at", "incident_id", "status"
        )  # fmt: skip
    ):
        if row[0] in wanted:
            by_key[row[0]].append(row[1:])
    found: dict[str, dict[str, Any]] = {}
    for key in keys:
        raws = by_key[key]
        steps = [step for _, step, _, _, _ in raws]
        done = [at for _, _, at, _, _ in raws]
        out_of_order = any(
            a is not None and b is not None and a > b
            for i, a in enumerate(done)
            for b in done[i + 1 :]
        )
        openers = [
            step for n, (_, step, _, incident, _) in enumerate(raws)
            if incident is not None and incident not in {r[3] for r in raws[:n]}
        ]  # fmt: skip
        sent_once = Counter(LIFECYCLE if "-life-" in key else ESCALATING)
        retried = any(n > sent_once[step] for step, n in Counter(steps).items())
        pending = any(status == "pending" for *_, status in raws)
        cause = (
            "not processed"
            if pending
            else "out of order"
            if out_of_order
            else "retried event"
            if retried
            else "other"
        )
        found[key] = {
            "cause": cause,
            "events_in_acceptance_order": steps,
            "opened_by": openers,
            "processed_at": [at.isoformat(timespec="milliseconds") if at else None for at in done],
        }
    return found


def escalation(
    org: Any, service: Any, minute: float, outages: list[Outage], mail_dir: Path
) -> dict[str, Any]:
    """Steps 1 and 3 of "notify; wait 1 minute; notify" fired exactly once each, on time
    (or within LATE_AFTER_BACK of the component's return); each notification delivered once."""
    from escalations.engine.models import EscalationRun
    from escalations.notifications.models import Notification
    from incidents.models import Incident

    opened = {
        pk: created.timestamp()
        for pk, created in Incident.objects.filter(service=service).values_list("pk", "created_at")
    }
    fired: dict[tuple[int, int], list[tuple[float, int, str, int]]] = defaultdict(list)
    for pk, incident_id, key, created, status in Notification.objects.filter(
        incident__service=service
    ).values_list("pk", "incident_id", "idempotency_key", "created_at", "status"):
        step = int(key.split(":")[3])
        fired[(incident_id, step)].append((created.timestamp(), pk, status, int(key.split(":")[2])))
    raw, after_back, late = [], [], []
    missed, duplicated = [], []
    not_yet_due = 0
    now = time.time()
    for incident_id, created in opened.items():
        due = created
        for step in (0, 2):
            rows = sorted(fired.get((incident_id, step), []))
            if not rows and due > now - LATE_AFTER_BACK:
                not_yet_due += 1  # opened late from a backlog: its step is not late yet
                break
            if not rows:
                missed.append({"incident": incident_id, "step": step + 1, "due": _iso(due)})
                break
            if len(rows) > 1:
                duplicated.append({"incident": incident_id, "step": step + 1, "rows": len(rows)})
            at = rows[0][0]
            raw.append(at - due)
            lateness = at - effective_due(due, at, outages)
            after_back.append(lateness)
            if lateness > LATE_AFTER_BACK:
                late.append(
                    {
                        "incident": incident_id,
                        "step": step + 1,
                        "due": _iso(due),
                        "fired": _iso(at),
                        "late_after_back_s": round(lateness, 1),
                    }
                )
            due = at + minute
    delivered = deliveries(mail_dir)
    notifications = [row for rows in fired.values() for row in rows]
    by_status = Counter(status for _, _, status, _ in notifications)
    twice = [pk for _, pk, _, _ in notifications if delivered[pk] > 1]
    sent_not_delivered = [
        pk for _, pk, status, _ in notifications if status == "sent" and not delivered[pk]
    ]
    never = [pk for _, pk, status, _ in notifications if not delivered[pk]]
    # Mail for a notification the database no longer has: its transaction was committed
    # (the escalator saw it) but lost in a PostgreSQL crash, then done again: a second page.
    known = set(Notification.objects.filter(organization=org).values_list("pk", flat=True))
    phantom = sorted(pk for pk in delivered if pk not in known)
    runs = Counter(
        EscalationRun.objects.filter(incident__service=service).values_list("state", flat=True)
    )
    return {
        "incidents": len(opened),
        "runs_by_state": dict(runs),
        "steps_fired": len(raw),
        "steps_not_yet_due_at_the_reconciliation": not_yet_due,
        "step_lateness_against_due": _ms(raw),
        "step_lateness_after_component_back": _ms(after_back),
        "notifications": len(notifications),
        "notifications_by_status": dict(by_status),
        "deliveries_at_provider": sum(delivered[pk] for _, pk, _, _ in notifications),
        "notifications_never_delivered": len(never),
        "examples": {
            "missed": missed[:SAMPLES],
            "duplicated": duplicated[:SAMPLES],
            "late": sorted(late, key=lambda x: -x["late_after_back_s"])[:SAMPLES],
            "delivered_but_not_in_the_database": phantom[:SAMPLES],
            "delivered_twice": [
                {"notification": pk, "deliveries": delivered[pk]} for pk in twice[:SAMPLES]
            ],
        },
        "failures": {
            "steps_missed": len(missed),
            "steps_duplicated": len(duplicated),
            "steps_late_over_10s_after_back": len(late),
            "notifications_delivered_twice": len(twice),
            "notifications_marked_sent_not_at_provider": len(sent_not_delivered),
            "deliveries_of_notifications_not_in_the_database": len(phantom),
        },
    }


def heartbeats(
    org: Any, load: Load, plans: dict[str, tuple[float, float]], outages: list[Outage]
) -> dict[str, Any]:
    """Every deadline an environment passed before the load ended is reported exactly once,
    and only those: a report is false when a check-in answered 2xx in the interval plus
    timeout before its deadline. `plans`: heartbeat name -> (interval, timeout)."""
    from incidents.models import IncidentEvent
    from signals.models import HeartbeatState

    end = load.stopped_at
    reports: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for dedup, payload, received in IncidentEvent.objects.filter(
        organization=org, dedup_id__startswith="heartbeat:"
    ).values_list("dedup_id", "payload", "received_at"):
        deadline = datetime.fromisoformat(payload["heartbeat"]["deadline"]).timestamp()
        if deadline <= end:
            reports[int(dedup.split(":")[1])].append((deadline, received.timestamp()))
    ok: dict[str, list[float]] = defaultdict(list)
    for a in load.attempts:
        if a.kind == "checkin" and a.status == 200:
            ok[a.key].append(a.sent)
    stopping = set(load.plan.stopping_paths)
    figures: Counter[str] = Counter()
    missed: list[dict[str, str]] = []
    false: list[dict[str, str]] = []
    lateness, after_back, lost_checkins = [], [], []
    states = list(HeartbeatState.objects.filter(organization=org).select_related("heartbeat"))
    for state in states:
        interval, timeout = plans[state.heartbeat.name]
        path = f"/heartbeats/checkin/{state.heartbeat.public_primary_key}/{state.environment}/"
        got = sorted(reports.get(state.pk, []))
        last = state.last_checkin_at.timestamp() if state.last_checkin_at else None
        if ok[path] and (last is None or last < max(ok[path]) - 1):
            lost_checkins.append(path)
        figures["misses_reported_twice"] += len(got) - len({round(d, 1) for d, _ in got})
        for deadline, detected in got:
            if any(deadline - interval - timeout + 0.5 < t < deadline - 0.5 for t in ok[path]):
                false.append({"environment": path, "deadline": _iso(deadline)})
            lateness.append(detected - deadline)
            after_back.append(detected - effective_due(deadline, detected, outages))
            if last is None or deadline < last:
                figures["misses_while_checkins_failed"] += 1
        if path not in stopping or last is None:
            continue
        # After its last check-in: a deadline every interval (counted from the later of the
        # deadline and its detection, as misses_detect schedules), each reported once.
        by_deadline = dict(got)
        deadline = last + interval + timeout
        while deadline <= end - 1:
            figures["misses_expected_after_stop"] += 1
            match = next((d for d in by_deadline if abs(d - deadline) < 1.0), None)
            if match is None:
                missed.append({"environment": path, "deadline": _iso(deadline)})
                break
            deadline = max(match, by_deadline[match]) + interval
    return {
        "environments_on_time": len(states) - len(stopping),
        "environments_stopped": len(stopping),
        "checkins_answered_2xx": sum(len(v) for v in ok.values()),
        "misses_reported": sum(len(v) for v in reports.values()),
        "misses_expected_after_stop": figures["misses_expected_after_stop"],
        "misses_while_checkins_failed": figures["misses_while_checkins_failed"],
        "detection_lateness_against_deadline": _ms(lateness),
        "detection_lateness_after_component_back": _ms(after_back),
        "examples": {
            "missed": missed[:SAMPLES],
            "false": false[:SAMPLES],
            "checkins_lost": lost_checkins[:SAMPLES],
        },
        "failures": {
            "misses_not_reported": len(missed),
            "misses_reported_twice": figures["misses_reported_twice"],
            "misses_reported_despite_a_checkin": len(false),
            "misses_over_10s_after_back": sum(1 for v in after_back if v > LATE_AFTER_BACK),
            "checkins_answered_2xx_not_stored": len(lost_checkins),
        },
    }
