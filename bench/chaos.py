"""The fault rig (`make chaos`): the product under a steady mixed load while its processes,
PostgreSQL and Redis are killed and restarted, then a reconciliation of every promise.

It starts a private PostgreSQL cluster and Redis on free loopback ports (they are killed
too, so never the dev ones), migrates, and runs the Procfile's `web:` (uvicorn, 2 workers),
`worker:`, `escalator:` and `beat:` (not `phone:` / `slack:`), DEBUG off, with a policy minute
of `--minute-seconds` (`OPSDUTY_ESCALATION_MINUTE_SECONDS`) and email delivered to a fake
provider that records every message (`bench/support/chaos_mail.py`). The load
(`bench/support/chaos_load.py`) sends `--rate` webhook events a second: keys that go new,
duplicate, duplicate, acknowledge, resolve on one service, and incidents that escalate on
"notify; wait 1 minute; notify" on another; plus heartbeat check-ins, some environments
stopping for good. Every request is retried until answered 2xx, as senders do.

Meanwhile it kills, one at a time and then two at once (`bench/support/chaos_supervise.py`),
each of web (alternately one uvicorn worker process, which uvicorn replaces, and the whole
web unit), worker, escalator, beat (SIGKILL to the process group), Redis (SIGKILL) and
PostgreSQL (`pg_ctl -m immediate`), `--kills` times per kind, and restarts each after
`--restart-delay` seconds. Then it lets the work settle and reconciles
(`bench/support/chaos_checks.py`): every 2xx has exactly one stored raw event, every raw
event was processed exactly once, one incident per dedup key, every escalation step fired
exactly once and at most 10 s after its due time or after the component that was down came
back, every missed heartbeat deadline reported once, no notification delivered twice.

JSON on stdout, a Markdown table on stderr; exit status 1 on any loss, duplicate or late
step. See docs/reliability.md.

    make chaos                                   # the full run (about 13 minutes)
    .venv/bin/python bench/chaos.py --quick      # a smoke run: 1 kill of each kind
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import chaos_checks as checks  # noqa: E402
from bench.support.chaos_cluster import Postgres, Redis, free_port  # noqa: E402
from bench.support.chaos_load import Load, Plan  # noqa: E402
from bench.support.chaos_supervise import KINDS, Supervisor, kill_plan  # noqa: E402
from bench.support.world import paged_team  # noqa: E402

HB_INTERVAL, HB_TIMEOUT = 60, 30  # on-time environments: check in every --period seconds
STOP_INTERVAL, STOP_TIMEOUT = 20, 10  # stopped environments: a miss every 20 s once stopped


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="smoke run: 2 kills of each kind, 50 events/s")
    add("--kills", type=int, default=10, help="kills of each kind (default 10)")
    add("--duration", type=float, default=420, help="seconds over which the kills are spread")
    add("--rate", type=float, default=200, help="webhook events a second (default 200)")
    add("--escalating-rate", type=float, default=1.0, help="escalating incidents a second")
    add("--minute-seconds", type=int, default=10, help="a policy minute, in seconds")
    add("--restart-delay", type=float, default=2.0, help="seconds before a restart")
    add("--environments", type=int, default=40, help="heartbeat environments on time")
    add("--stopping", type=int, default=20, help="heartbeat environments that stop")
    add("--settle", type=float, default=120, help="seconds to wait for the work to drain")
    add("--seed", type=int, default=19)
    add("--keep", action="store_true", help="keep the temporary directory (logs, mail)")
    args = parser.parse_args()
    if args.quick:
        args.kills, args.duration, args.rate = 2, 90, 50
        args.environments, args.stopping = 10, 5
    return args


# --- set-up ---------------------------------------------------------------------------------


def _servers(tmp: Path) -> tuple[Postgres, Redis, dict[str, str]]:
    postgres, redis = Postgres(tmp, free_port()), Redis(tmp, free_port())
    postgres.init()
    redis.start()
    return postgres, redis, {"DATABASE_URL": postgres.url, "REDIS_URL": redis.url}


def _product(args: argparse.Namespace, stamp: str) -> dict[str, Any]:
    """A chaos organization: a member paged by email, the escalating service with
    "notify; wait 1 minute; notify", a lifecycle service without a policy, a heartbeat
    service with its environments, and a generic webhook."""
    import django

    django.setup()
    from django.utils import timezone

    from escalations.catalog import services as catalog
    from signals.models import Heartbeat, HeartbeatState, Webhook

    world = paged_team(name="Chaos", domain=f"chaos-{stamp}")
    org, team, policy = world.organization, world.team, world.policy
    made = {name: catalog.service_create(team=team, by=None, name=name.title())
            for name in ("lifecycle", "escalating", "heartbeats")}  # fmt: skip
    catalog.service_set_policy(service=made["escalating"], policy=policy, by=None)
    webhook = Webhook.objects.create(organization=org, name="Chaos", rate_limit_per_minute=10**6)
    now = timezone.now()
    paths: dict[str, list[str]] = {"on_time": [], "stopping": []}
    for group, count, interval, timeout in (
        ("on_time", args.environments, HB_INTERVAL, HB_TIMEOUT),
        ("stopping", args.stopping, STOP_INTERVAL, STOP_TIMEOUT),
    ):
        beat = Heartbeat.objects.create(organization=org, service=made["heartbeats"], name=group)
        for n in range(count):
            expected = now + timezone.timedelta(seconds=interval + 30)  # the first check-in
            HeartbeatState.objects.create(
                organization=org, heartbeat=beat, environment=f"env-{n}", type="interval",
                interval_seconds=interval, timeout_seconds=timeout, next_expected_at=expected,
                next_deadline=expected + timezone.timedelta(seconds=timeout),
            )  # fmt: skip
            paths[group].append(f"/heartbeats/checkin/{beat.public_primary_key}/env-{n}/")
    base = f"/integrations/webhooks/enque/event/{webhook.key}/"
    return {
        "org": org,
        "services": made,
        "lifecycle_path": base + made["lifecycle"].routing_key,
        "escalating_path": base + made["escalating"].routing_key,
        "checkin_paths": paths,
    }


# --- the run --------------------------------------------------------------------------------


def _chaos(supervisor: Supervisor, plan: list[tuple[str, ...]], duration: float) -> float:
    """Run the kill plan, one kill (or pair) per slot of `duration / len(plan)` seconds (a
    slot starts no earlier than the previous kill's units are back)."""
    began = time.monotonic()
    if not plan:  # --kills 0: the same load without faults, a baseline
        time.sleep(duration)
        return time.monotonic() - began
    slot = duration / len(plan)
    for n, kinds in enumerate(plan):
        time.sleep(max(0.0, began + n * slot - time.monotonic()))
        outages = supervisor.kill_and_restart(kinds)
        print(
            f"[chaos] {n + 1}/{len(plan)} killed {'+'.join(kinds)}: back after "
            + ", ".join(f"{o.back_at - o.killed_at:.1f} s" for o in outages),
            file=sys.stderr,
        )
    return time.monotonic() - began


def _settled(org: Any, service: Any) -> bool:
    from django.db import connections

    from escalations.engine.models import EscalationRun, RunState
    from escalations.notifications.models import Notification
    from signals.models import RawEvent

    connections.close_all()  # the rig's connection may be from before a restart
    try:
        return not (
            RawEvent.objects.filter(organization=org, status="pending").exists()
            or EscalationRun.objects.filter(
                incident__service=service, state__in=[RunState.ACTIVE, RunState.ACK_WAIT]
            ).exists()
            or Notification.objects.filter(incident__service=service, status="pending").exists()
        )
    except Exception:  # noqa: BLE001 - a server coming back
        return False


def _settle(org: Any, service: Any, timeout: float, minute: float) -> float:
    time.sleep(minute + 5)  # the steps still waiting for their minute
    began = time.monotonic()
    while not _settled(org, service) and time.monotonic() - began < timeout:
        time.sleep(2)
    return time.monotonic() - began


def _table(out: dict[str, Any]) -> str:
    rows = [("Figure", "Value")]
    http = out["load"]
    rows += [
        ("load", f"{http['load_seconds']} s, {http['webhook_attempts_per_second']} webhook "
                 f"attempts/s, {http['lifecycle_keys']} lifecycle + {http['escalating_keys']} "
                 "escalating keys"),
        ("answers", json.dumps(http["attempts_by_kind_and_answer"])),
        ("kills", ", ".join(f"{k} {v}" for k, v in out["kills"]["by_kind"].items())),
        ("exited on their own", json.dumps(out["kills"]["processes_that_exited_on_their_own"])),
    ]  # fmt: skip
    for section in ("events", "incidents", "escalation", "heartbeats"):
        for key, value in out[section].items():
            if key not in ("failures", "examples"):
                rows.append((f"{section}: {key}", json.dumps(value)))
        for key, value in out[section]["failures"].items():
            rows.append((f"**{section}: {key}**", f"**{value}**"))
    rows.append(("**result**", "**PASS**" if not out["failed"] else f"**FAIL**: {out['failed']}"))
    lines = [f"| {a} | {b} |" for a, b in rows]
    return "\n".join([lines[0], "|---|---|", *lines[1:]])


def main() -> int:
    args = _arguments()
    tmp = Path(tempfile.mkdtemp(prefix="opsduty-chaos-"))
    tmp.chmod(0o711)  # the postgres OS user reaches its data directory below
    (tmp / "mail").mkdir()
    (tmp / "logs").mkdir()
    stamp = time.strftime("%Y%m%d%H%M%S")
    postgres, redis, urls = _servers(tmp)
    web_port = free_port()
    env = {
        **urls,
        "OPSDUTY_SECRET_KEY": secrets.token_urlsafe(32),
        "OPSDUTY_DEBUG": "0",
        "OPSDUTY_WEB_PORT": str(web_port),
        "OPSDUTY_RUN_DIR": str(tmp),
        "OPSDUTY_ESCALATION_MINUTE_SECONDS": str(args.minute_seconds),
        "OPSDUTY_EMAIL_BACKEND": "bench.support.chaos_mail.FileEmailBackend",
        "BENCH_MAIL_DIR": str(tmp / "mail"),
        "BENCH_LOG_DIR": str(tmp / "logs"),
        "DJANGO_SETTINGS_MODULE": "opsduty.settings",
    }
    os.environ.update(env)  # the rig's own Django and every process it starts
    supervisor = Supervisor(env, postgres, redis, web_port, args.restart_delay)
    try:
        subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True
        )
        product = _product(args, stamp)
        from django.db import connections

        connections.close_all()
        supervisor.start_all()
        plan = kill_plan(args.kills, args.seed)
        stop_at = {p: 20 + (n + 1) * args.duration / (args.stopping + 1)
                   for n, p in enumerate(product["checkin_paths"]["stopping"])}  # fmt: skip
        load = Load(
            Plan(
                base_url=f"http://127.0.0.1:{web_port}",
                lifecycle_path=product["lifecycle_path"],
                escalating_path=product["escalating_path"],
                checkin_paths=product["checkin_paths"]["on_time"],
                stopping_paths=stop_at,
                rate=args.rate,
                escalating_rate=args.escalating_rate,
                prefix=f"chaos{stamp}",
            )
        )
        load.start()
        time.sleep(20)  # steady load before the first kill
        chaos_seconds = _chaos(supervisor, plan, args.duration)
        time.sleep(20)  # steady load after the last one
        load.stop()
        settle_seconds = _settle(
            product["org"], product["services"]["escalating"], args.settle, args.minute_seconds
        )
        out = _report(args, product, load, supervisor, postgres, redis, tmp)
        out["seconds"] = {"chaos": round(chaos_seconds, 1), "settle": round(settle_seconds, 1)}
    finally:
        supervisor.stop_all()
        redis.kill()
        postgres.stop()
    print(json.dumps(out, indent=2))
    print(_table(out), file=sys.stderr)
    if args.keep or out["failed"]:
        print(f"[chaos] logs and mail kept in {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if out["failed"] else 0


def _report(
    args: argparse.Namespace,
    product: dict[str, Any],
    load: Load,
    supervisor: Supervisor,
    postgres: Postgres,
    redis: Redis,
    tmp: Path,
) -> dict[str, Any]:
    org, services = product["org"], product["services"]
    outages = supervisor.outages + supervisor.exits  # both excuse a late timer
    out: dict[str, Any] = {
        "benchmark": "chaos",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"nproc": os.cpu_count(), "load_average": os.getloadavg()},
        "postgresql": postgres.version(),
        "redis": redis.version(),
        "settings": {k: v for k, v in vars(args).items() if k != "keep"},
        "load": checks.http_figures(load),
        "rig_cpu_seconds": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 1),
        "kills": {
            "by_kind": {k: sum(1 for o in supervisor.outages if o.kind == k) for k in KINDS},
            "down_seconds_max_by_kind": {
                k: round(
                    max(
                        [o.back_at - o.killed_at for o in supervisor.outages if o.kind == k] or [0]
                    ),
                    1,
                )
                for k in KINDS
            },
            "outages": [o.as_dict() for o in supervisor.outages],
            "processes_that_exited_on_their_own": [o.as_dict() for o in supervisor.exits],
        },
        "events": checks.events(org, load),
        "incidents": checks.incidents(org, load, services),
        "escalation": checks.escalation(
            org, services["escalating"], args.minute_seconds, outages, tmp / "mail"
        ),
        "heartbeats": checks.heartbeats(
            org,
            load,
            {"on_time": (HB_INTERVAL, HB_TIMEOUT), "stopping": (STOP_INTERVAL, STOP_TIMEOUT)},
            outages,
        ),
    }
    short = [k for k in KINDS if out["kills"]["by_kind"][k] < args.kills]
    out["failed"] = {
        f"{section}.{name}": value
        for section in ("events", "incidents", "escalation", "heartbeats")
        for name, value in out[section]["failures"].items()
        if value
    }
    if short:
        out["failed"]["kills_short"] = short
    return out


if __name__ == "__main__":
    sys.exit(main())
