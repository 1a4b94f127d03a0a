"""Escalation benchmark: step lateness, missed and duplicated steps, event to first page.

Serves the product the way `make run` does (every line of the Procfile: `web:`, `worker:`,
`escalator:`, `beat:`, ..., DEBUG off) with a policy minute shortened by
`OPSDUTY_ESCALATION_MINUTE_SECONDS` (time is shortened by the setting, never faked). A bench
organization gets one member, one service and the policy "notify the member; wait 1 minute;
notify the member". BENCH_INCIDENTS Alertmanager-like events with unique dedup ids are POSTed
to a webhook on loopback (each POST's send time recorded), then the bench waits until every
run has finished (or BENCH_TIMEOUT) and measures from the database:

- lateness of each step that fired: the first Notification row of the step (created_at)
  minus its due time. Step 1 is due at the incident's creation; step 3 (after the wait) at
  step 1's first row plus the policy minute (an upper bound of the engine's due time, which
  is taken a few ms before that row is written: lateness is under-, never over-stated);
- missed: incidents not notified at both notify steps;
- duplicated: notify steps written more than once (more rows than the member's rules, or
  rows from more than one run version for the same step);
- POST send time to the incident's first Notification row;
- delivery: each sent row's `sent_at` minus its `due_at`, and POST to the first row sent (the
  bench waits for the deliveries too, up to BENCH_TIMEOUT);
- database: PostgreSQL's CPU seconds from the first POST until the deliveries are done (the
  server's process tree, from /proc), per incident and per incident state change (the
  timeline lines the analytics upkeep acts on). Run it with OPSDUTY_ANALYTICS_UPKEEP=0 and
  with it on: the difference is what the analytics upkeep costs the database per change;
- beside them (bench/support/baseline.py): the raw-PostgreSQL baseline measured in the same
  run before the processes start, the POST rate as a share of it (a paced load: the share is
  what the load asked of the machine, not what it can take), and CPU ms per incident of every
  component (each Procfile process, PostgreSQL, Redis; this process, the load generator, not
  summed into `_all`) over the same window as the database's figure. JSON on stdout, a
  Markdown table on stderr.

    eval "$(make -s services)"; .venv/bin/python manage.py migrate
    BENCH_INCIDENTS=1000 .venv/bin/python bench/escalation.py

Environment: BENCH_INCIDENTS (default 1000), BENCH_MINUTE_SECONDS (default 5),
BENCH_CLIENTS (default 8), BENCH_TIMEOUT (seconds to wait for the runs, default 300),
BENCH_PORT (default 8312), BENCH_RATE (events per second, paced evenly over the clients;
default 20; 0: an unpaced burst, as fast as the clients get answers), BENCH_LOG_DIR (keep
each process's output there). A paced run measures latency at a sustained rate, which is
what the targets are about; a burst measures how fast a backlog of new incidents drains
(its latency is the backlog's length over that rate).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import baseline, cpu, procfile, stats  # noqa: E402
from bench.support.webhooks import alert_body, post_all  # noqa: E402
from bench.support.world import paged_team  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

INCIDENTS = min(int(os.environ.get("BENCH_INCIDENTS", "1000")), 20_000)
MINUTE_SECONDS = int(os.environ.get("BENCH_MINUTE_SECONDS", "5"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "300"))
PORT = int(os.environ.get("BENCH_PORT", "8312"))
RATE = float(os.environ.get("BENCH_RATE", "20"))  # events/s; 0: unpaced burst
RUN_DIR = tempfile.mkdtemp(prefix="opsduty-bench-escalation-")
# Delivery is part of the load (same worker) but must not wait on an SMTP server.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# os.environ is read by the processes the bench starts (settings read it at import).
os.environ["OPSDUTY_ESCALATION_MINUTE_SECONDS"] = str(MINUTE_SECONDS)


def _send_all(path: str, prefix: str) -> tuple[dict[str, float], dict[int, int], float]:
    events = [(f"{prefix}-{n}", path, alert_body(n, f"{prefix}-{n}")) for n in range(INCIDENTS)]
    result = post_all(PORT, events, rate=RATE, clients=CLIENTS)
    return result.sent, result.statuses, result.seconds


def _ms(values: list[float]) -> dict[str, Any]:
    return stats.ms(values, digits=1)


# --- processes ------------------------------------------------------------------------------


PROCESSES = procfile.names()


def _env() -> dict[str, str]:
    return {
        "OPSDUTY_WEB_PORT": str(PORT),
        "OPSDUTY_RUN_DIR": RUN_DIR,
        "OPSDUTY_ESCALATION_MINUTE_SECONDS": str(MINUTE_SECONDS),
        "OPSDUTY_EMAIL_BACKEND": EMAIL_BACKEND,
    }


# --- the run --------------------------------------------------------------------------------


def _setup() -> tuple[str, Any, Any]:
    import django

    django.setup()
    from escalations.catalog import services as escalation_services
    from signals.models import Webhook

    stamp = time.strftime("%Y%m%d%H%M%S")
    world = paged_team(name="Bench", domain=f"bench-esc-{stamp}")
    org, team, policy = world.organization, world.team, world.policy
    service = escalation_services.service_create(team=team, by=None, name="Bench")
    escalation_services.service_set_policy(service=service, policy=policy, by=None)
    webhook = Webhook.objects.create(
        organization=org, name="Bench", rate_limit_per_minute=1_000_000
    )
    path = f"/integrations/webhooks/enque/event/{webhook.key}/{service.routing_key}"
    return path, service, stamp


def _runs_finished(service: Any) -> tuple[int, int]:
    from escalations.engine.models import EscalationRun, RunState

    runs = EscalationRun.objects.filter(incident__service=service)
    return runs.filter(state=RunState.FINISHED).count(), runs.count()


def _pending_deliveries(service: Any) -> int:
    from escalations.notifications.models import Notification, NotificationStatus

    return Notification.objects.filter(
        incident__service=service, status=NotificationStatus.PENDING
    ).count()


def _state_changes(service: Any) -> dict[str, int]:
    """The incidents' timeline lines, and those the analytics upkeep acts on (the incident
    state changes: created, acknowledged, escalated, ...; analytics.facts.UPKEEP_ACTIONS)."""
    from analytics.facts import UPKEEP_ACTIONS
    from incidents.models import IncidentLogEntry

    lines = IncidentLogEntry.objects.filter(incident__service=service)
    return {
        "timeline_lines": lines.count(),
        "state_changes": lines.filter(action__in=UPKEEP_ACTIONS).count(),
    }


def _database_cost(cpu_seconds: float, changes: dict[str, int]) -> dict[str, Any]:
    """PostgreSQL's CPU over the run per incident and per incident state change (compare a run
    with OPSDUTY_ANALYTICS_UPKEEP=0 to one with it on for the analytics upkeep's share)."""
    return {
        "postgres_cpu_seconds": round(cpu_seconds, 2),
        **changes,
        "postgres_cpu_ms_per_incident": round(cpu_seconds * 1000 / INCIDENTS, 2),
        "postgres_cpu_ms_per_state_change": round(
            cpu_seconds * 1000 / max(changes["state_changes"], 1), 2
        ),
    }


def _measure(service: Any, sent: dict[str, float]) -> dict[str, Any]:
    from escalations.engine.models import EscalationRun
    from escalations.notifications.models import Notification, NotificationRule
    from incidents.models import Incident

    incidents = {
        pk: (dedup, created.timestamp())
        for pk, dedup, created in Incident.objects.filter(service=service).values_list(
            "pk", "dedup_id", "created_at"
        )
    }
    member_rules = NotificationRule.objects.filter(
        user__in=service.team.memberships.values("user"), urgency="high"
    ).count()
    # step index -> incident -> [(created_at, version)], from the key
    # esc:{run}:{version}:{step_index}:{repeat_count}:{user}:{rule}
    fired: dict[int, dict[int, list[tuple[float, int]]]] = {}
    reasons: set[str] = set()
    for incident_id, key, reason, created in Notification.objects.filter(
        incident__service=service
    ).values_list("incident_id", "idempotency_key", "reason", "created_at"):
        parts = key.split(":")
        step, version = int(parts[3]), int(parts[2])
        fired.setdefault(step, {}).setdefault(incident_id, []).append(
            (created.timestamp(), version)
        )
        reasons.add(reason)
    first_step = fired.get(0, {})
    second_step = fired.get(2, {})
    minute = float(MINUTE_SECONDS)
    lateness_1, lateness_3, to_first = [], [], []
    by_index: list[tuple[int, float]] = []
    for pk, (dedup, opened) in incidents.items():
        if pk in first_step:
            step1 = min(at for at, _ in first_step[pk])
            lateness_1.append(step1 - opened)
            if pk in second_step:
                lateness_3.append(min(at for at, _ in second_step[pk]) - (step1 + minute))
            if dedup in sent:
                to_first.append(step1 - sent[dedup])
                by_index.append((int(dedup.rsplit("-", 1)[1]), step1 - sent[dedup]))
    missed = sum(1 for pk in incidents if not (pk in first_step and pk in second_step))
    duplicated = sum(
        1
        for rows_by_incident in fired.values()
        for rows in rows_by_incident.values()
        if len(rows) > member_rules or len({version for _, version in rows}) > 1
    )
    states: dict[str, int] = {}
    for state in EscalationRun.objects.filter(incident__service=service).values_list(
        "state", flat=True
    ):
        states[state] = states.get(state, 0) + 1
    delivery: dict[str, int] = {}
    delivery_lateness: list[float] = []
    first_sent: dict[int, float] = {}
    for incident_id, status, due, sent_at in Notification.objects.filter(
        incident__service=service
    ).values_list("incident_id", "status", "due_at", "sent_at"):
        delivery[status] = delivery.get(status, 0) + 1
        if sent_at is not None:
            delivery_lateness.append((sent_at - due).total_seconds())
            at = sent_at.timestamp()
            first_sent[incident_id] = min(first_sent.get(incident_id, at), at)
    to_first_sent = [
        first_sent[pk] - sent[dedup]
        for pk, (dedup, _) in incidents.items()
        if pk in first_sent and dedup in sent
    ]
    return {
        "incidents_created": len(incidents),
        "runs_by_state": states,
        "notification_rows": sum(len(r) for s in fired.values() for r in s.values()),
        "notification_rows_by_status": delivery,
        "notification_reasons": sorted(reasons),
        "rules_per_member": member_rules,
        "lateness": {
            "all_steps": _ms(lateness_1 + lateness_3),
            "step_1_due_at_incident_creation": _ms(lateness_1),
            "step_3_due_at_step_1_plus_minute": _ms(lateness_3),
        },
        "missed_incidents_fewer_than_2_steps": missed + max(0, len(sent) - len(incidents)),
        "duplicated_steps": duplicated,
        "event_post_to_first_notification": _ms(to_first),
        "delivery_sent_at_minus_due_at": _ms(delivery_lateness),
        "event_post_to_first_notification_sent": _ms(to_first_sent),
        "slowest_events_by_send_order": [
            [n, round(seconds * 1000, 1)]
            for n, seconds in sorted(by_index, key=lambda item: -item[1])[:10]
        ],
    }


def main() -> None:
    path, service, stamp = _setup()
    queued_at_start = procfile.queued_tasks()
    from django.db import connections

    connections.close_all()
    base = baseline.measure()
    processes = {name: procfile.start(name, _env()) for name in PROCESSES}
    try:
        procfile.wait_for_port(PORT)
        procfile.wait_for_worker()
        time.sleep(1.0)  # let beat start its schedule
        postgres_before = cpu.postgres_cpu_seconds()
        meter = baseline.CpuMeter(processes, own="bench").start()
        sent, statuses, send_seconds = _send_all(path, f"esc-{stamp}")
        started = time.monotonic()
        deadline = started + TIMEOUT
        finished, runs = _runs_finished(service)
        while finished < INCIDENTS and time.monotonic() < deadline:
            time.sleep(0.5)
            finished, runs = _runs_finished(service)
        waited = time.monotonic() - started
        while _pending_deliveries(service) and time.monotonic() < deadline:
            time.sleep(0.5)  # the last steps' deliveries
        delivered_after = time.monotonic() - started
        postgres_used = cpu.postgres_cpu_seconds() - postgres_before
        cpu_figures = meter.stop(INCIDENTS, "incident")
        results = _measure(service, sent)
        database = _database_cost(postgres_used, _state_changes(service))
    finally:
        for process in processes.values():
            procfile.stop(process)
    posts_per_second = round(INCIDENTS / send_seconds, 1)
    out: dict[str, Any] = {
        "benchmark": "escalation",
        "incidents": INCIDENTS,
        "start_path": "webhook POST (web: + worker: from the Procfile)",
        "policy": "notify member; wait 1 minute; notify member",
        "escalation_minute_seconds": MINUTE_SECONDS,
        "clients": CLIENTS,
        "queued_tasks_at_start": queued_at_start,
        "rate_per_second": RATE or "unpaced burst",
        "post_seconds": round(send_seconds, 2),
        "posts_per_second": posts_per_second,
        "baseline": base,
        "share_of_raw": baseline.share_of_raw(posts_per_second, base),
        "post_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds_waited_after_posts": round(waited, 1),
        "seconds_until_delivered_after_posts": round(delivered_after, 1),
        "runs_finished": finished,
        "runs": runs,
        "timed_out": finished < INCIDENTS,
        **results,
        "database": database,
        "cpu_components": baseline.components(
            PROCESSES, bench="this process: the load generator (not in _all)"
        ),
        **cpu_figures,
        "analytics_upkeep": os.environ.get("OPSDUTY_ANALYTICS_UPKEEP", "1"),
        "targets": {
            "p99_lateness_ms_below": 2000,
            "missed": 0,
            "duplicated": 0,
            "event_to_first_notification_p99_ms_below": 1000,
        },
        "commands": {
            name: shlex.join(
                [
                    Path(part).name if i == 0 else part
                    for i, part in enumerate(procfile.command(name, _env()))
                ]
            )
            for name in PROCESSES
        },
        "env": {
            "OPSDUTY_ESCALATION_MINUTE_SECONDS": str(MINUTE_SECONDS),
            "OPSDUTY_EMAIL_BACKEND": EMAIL_BACKEND,
            "OPSDUTY_DEBUG": "0",
            "OPSDUTY_ANALYTICS_UPKEEP": os.environ.get("OPSDUTY_ANALYTICS_UPKEEP", "1"),
        },
        "cpus": os.cpu_count(),
    }
    print(json.dumps(out, indent=2))
    lateness = out["lateness"]["all_steps"]
    pace = f"{RATE:g}/s" if RATE else "unpaced"
    baseline.print_table(
        base,
        [
            (
                f"{INCIDENTS} webhook events, {pace}, {CLIENTS} clients, each an incident under"
                f" 'notify; wait 1 minute ({MINUTE_SECONDS} s); notify', until delivered",
                f"{posts_per_second:,.1f} POSTs/s; step lateness p99 {lateness['p99_ms']} ms,"
                f" missed {out['missed_incidents_fewer_than_2_steps']},"
                f" duplicated {out['duplicated_steps']}",
                out["share_of_raw"],
                out,
            )
        ],
    )


if __name__ == "__main__":
    main()
