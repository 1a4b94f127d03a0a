"""Telephony benchmark: SMS paging latency, and SMS replies processed exactly once.

Serves the product the way `make run` does (the Procfile's `web:`, `worker:`, `escalator:`
and `beat:` lines, DEBUG off; not `phone:`: the bench runs its own fake) with the fake Twilio
(`integrations/twilio/fake/`) in this process on a free loopback port: the spawned processes
reach it through `OPSDUTY_TWILIO_API_URL` with the real `twilio` SDK, and it calls the web
server back with signed webhooks (`OPSDUTY_PUBLIC_URL` is the web server's own URL).

A bench organization gets a Twilio account and one bought number, `--people` members with
verified phones whose only high-urgency rule is "SMS at 0 minutes", and one service per
member whose policy's first (only) step notifies that member; incidents go round-robin over
the services, so each person's reply codes (1..99, round-robin) stay unique in the run.

1. Paging: `--incidents` webhook events, `--rate` a second, each opening an incident. Measured:
   POST sent (and POST answered 202) -> the fake's arrival time of the SMS's Messages.create
   (p50/p99/max); the notification rows' outcome; then the fake's status callbacks (sent,
   delivered: two signed POSTs per SMS) are let drain before phase 2.
2. Replies: one "<code>a" SMS per incident from the paged person's phone through the fake
   (`FakeTwilio.sms`: a signed POST to `sms_inbound`, the TwiML answer parsed), at
   `--reply-rate` a second over `--senders` threads. Measured: fake send -> the app's TwiML
   answer received (p50/p99/max), and of that the HTTP request alone (the fake runs its
   callbacks one at a time on one worker thread, so concurrent senders queue there);
   exactly once: incidents acknowledged, InboundMessage rows, acknowledgement and "SMS
   reply" timeline lines per incident (missed: none; duplicated: more than one).

CPU seconds of each process (tree) per phase, and of this process (fake + load generator).
Beside them (bench/support/baseline.py): the raw-PostgreSQL baseline measured in the same run
before the processes start, each phase's rate as a share of it (paced: what the load asked of
the machine), and CPU ms of every component (each process, PostgreSQL, Redis; this process,
not summed into `_all`) per incident paged, per status callback, per reply. Prints one JSON
object on stdout and short Markdown tables on stderr.

    eval "$(make -s services)"; .venv/bin/python manage.py migrate
    .venv/bin/python bench/telephony.py [--incidents 1000 --rate 20]

Environment: BENCH_PORT (web, default 8318), BENCH_LOG_DIR (keep each process's output).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import baseline, cpu, procfile, stats  # noqa: E402
from bench.support.webhooks import alert_body, post_all  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"

PORT = int(os.environ.get("BENCH_PORT", "8318"))
WEB = f"http://127.0.0.1:{PORT}"
# Read by this process's settings (the number's SMS URL, signatures) and the spawned ones.
os.environ["OPSDUTY_PUBLIC_URL"] = WEB
RUN_DIR = tempfile.mkdtemp(prefix="opsduty-bench-telephony-")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The fake is this process; `phone:` would start a second one on OPSDUTY_TWILIO_API_URL, and
# `slack:` the development Slack, which this benchmark does not use.
PROCESSES = [name for name in procfile.names() if name not in ("phone", "slack")]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="incidents a second (0: burst)")
    parser.add_argument("--people", type=int, default=20, help="paged people (reply codes)")
    parser.add_argument("--reply-rate", type=float, default=20.0, help="SMS replies a second")
    parser.add_argument("--senders", type=int, default=4, help="threads sending the replies")
    parser.add_argument("--clients", type=int, default=8, help="webhook connections")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait per phase")
    args = parser.parse_args()
    if args.incidents > 99 * args.people:
        parser.error("more than 99 incidents per person would reuse reply codes")
    return args


# --- the fake -------------------------------------------------------------------------------


def _timed_fake() -> Any:
    from integrations.twilio.fake import FakeTwilio

    class TimedFake(FakeTwilio):
        """The fake, recording how long each signed request to the app took (the HTTP leg
        of an inbound SMS, and the status callbacks)."""

        def __init__(self) -> None:
            super().__init__()
            self.timings: dict[str, list[tuple[str, float]]] = {"sms": [], "status": []}

        def send(self, url: str, method: str, params: dict[str, str], account_sid: str) -> Any:
            started = time.perf_counter()
            delivery = super().send(url, method, params, account_sid)
            kind = "sms" if params.get("SmsStatus") == "received" else "status"
            with self.lock:
                self.timings[kind].append(
                    (params.get("MessageSid", ""), time.perf_counter() - started)
                )
            return delivery

    return TimedFake()


# --- set-up ---------------------------------------------------------------------------------


def _setup(fake: Any, people: int) -> dict[str, Any]:
    import secrets

    from django.utils import timezone

    from escalations.catalog import services as escalation_services
    from escalations.notifications.models import Channel
    from escalations.notifications.rules import RuleInput, notification_rules_replace
    from escalations.policies import services as policy_services
    from escalations.policies.models import StepKind
    from incidents.models import Urgency
    from integrations.twilio.models import TwilioAccount, TwilioNumber
    from integrations.twilio.selectors import callback_url
    from opsduty import services
    from opsduty.crypto import secret_hint
    from opsduty.models import Team
    from signals.models import Webhook

    stamp = time.strftime("%Y%m%d%H%M%S")
    org = services.organization_create(name="Bench telephony", domain=f"bench-tel-{stamp}")
    team = Team.objects.create(organization=org, name="Bench")
    sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    fake.add_account(sid, token)
    # A number no earlier run bought (inbound SMS find their organization by it).
    our_number = f"+1555{int(time.time() * 10) % 10**7:07d}"
    account = TwilioAccount.objects.create(
        organization=org,
        account_sid=sid,
        auth_token=token,
        auth_token_hint=secret_hint(token),
        sms_limit=100,  # 50 SMS a person in a minute: the default (5 per 15 min) throttles
    )
    bought = fake.buy_number(sid, our_number, sms_url=callback_url(account, "twilio_sms_inbound"))
    number = TwilioNumber.objects.create(
        organization=org, account=account, sid=bought.sid, phone_number=our_number
    )
    webhook = Webhook.objects.create(
        organization=org, name="Bench", rate_limit_per_minute=1_000_000
    )
    paths, phones = [], {}
    for i in range(people):
        member = services.user_create(
            organization=org,
            email=f"oncall{i}@bench-tel-{stamp}.test",
            password=None,
            first_name=f"On{i}",
        )
        member.phone_number = f"+4790{i:06d}"
        member.phone_verified_at = timezone.now()
        member.save(update_fields=["phone_number", "phone_verified_at"])
        phones[member.pk] = member.phone_number
        services.team_add_member(team=team, user=member, by=None)
        notification_rules_replace(
            user=member, urgency=Urgency.HIGH, rules=[RuleInput(0, Channel.SMS)]
        )
        policy = policy_services.policy_create(team=team, by=None, name=f"Bench {i}")
        policy_services.step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
        service = escalation_services.service_create(team=team, by=None, name=f"Bench {i}")
        escalation_services.service_set_policy(service=service, policy=policy, by=None)
        paths.append(f"/integrations/webhooks/enque/event/{webhook.key}/{service.routing_key}")
    return {
        "org": org,
        "stamp": stamp,
        "paths": paths,
        "phones": phones,
        "number": number.phone_number,
    }


# --- measuring ------------------------------------------------------------------------------


def _notifications(org: Any) -> list[tuple[int, str, str, str]]:
    from escalations.notifications.models import Notification

    return list(
        Notification.objects.filter(organization=org).values_list(
            "incident_id", "status", "provider_id", "delivery_status"
        )
    )


def _wait_for_pages(org: Any, incidents: int, timeout: float) -> float:
    from escalations.notifications.models import NotificationStatus

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        rows = _notifications(org)
        if len(rows) >= incidents and all(r[1] != NotificationStatus.PENDING for r in rows):
            break
        time.sleep(0.5)
    return time.monotonic() - started


def _paging_figures(fake: Any, org: Any, sent: Any) -> dict[str, Any]:
    from incidents.models import Incident

    dedup_of = dict(Incident.objects.filter(organization=org).values_list("pk", "dedup_id"))
    with fake.lock:
        arrived = {sid: m.created for sid, m in fake.messages.items() if m.direction != "inbound"}
    to_twilio, answered_to_twilio, by_status, by_delivery = [], [], {}, {}
    per_incident: dict[int, int] = {}
    for incident_id, status, sid, delivery in _notifications(org):
        by_status[status] = by_status.get(status, 0) + 1
        by_delivery[delivery or "-"] = by_delivery.get(delivery or "-", 0) + 1
        per_incident[incident_id] = per_incident.get(incident_id, 0) + 1
        dedup = dedup_of.get(incident_id)
        if sid in arrived and dedup in sent.sent:
            to_twilio.append(arrived[sid] - sent.sent[dedup])
            answered_to_twilio.append(arrived[sid] - sent.answered[dedup])
    webhook_answer = [sent.answered[d] - sent.sent[d] for d in sent.answered]
    return {
        "incidents_created": len(dedup_of),
        "notification_rows_by_status": by_status,
        "notification_rows_by_delivery_status": by_delivery,
        "incidents_without_notification": len(set(dedup_of) - set(per_incident)),
        "incidents_with_more_than_one_notification": sum(1 for n in per_incident.values() if n > 1),
        "sms_at_fake": len(arrived),
        "post_sent_to_sms_at_twilio": stats.ms(to_twilio),
        "post_answered_to_sms_at_twilio": stats.ms(answered_to_twilio),
        "webhook_post_to_answer": stats.ms(webhook_answer),
    }


def _send_replies(
    fake: Any, replies: list[tuple[str, str]], to: str, rate: float, senders: int
) -> tuple[list[tuple[float, Any]], float]:
    """Send every (phone, body) of `replies` through the fake, reply n at n / rate seconds;
    each one's seconds from the call to the TwiML answer, and its SmsResult (or the error)."""
    results: list[tuple[float, Any] | None] = [None] * len(replies)
    lock = threading.Lock()
    next_index = [0]
    started = time.perf_counter()

    def sender() -> None:
        while True:
            with lock:
                n = next_index[0]
                next_index[0] += 1
            if n >= len(replies):
                return
            if rate > 0:
                time.sleep(max(0.0, started + n / rate - time.perf_counter()))
            phone, body = replies[n]
            before = time.perf_counter()
            try:
                result: Any = fake.sms(phone, to, body, timeout=30)
            except Exception as error:  # noqa: BLE001 (counted and reported)
                result = error
            results[n] = (time.perf_counter() - before, result)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None], time.perf_counter() - started


def _reply_figures(
    fake: Any, org: Any, results: list[tuple[float, Any]], incidents: int
) -> dict[str, Any]:
    from incidents.models import Incident, IncidentLogEntry, LogAction, Status
    from integrations.twilio.fake import SmsResult
    from integrations.twilio.models import InboundMessage

    answers: dict[str, int] = {}
    statuses: dict[str, int] = {}
    errors = []
    for _, result in results:
        if not isinstance(result, SmsResult):
            errors.append(repr(result)[:200])
            continue
        statuses[str(result.status)] = statuses.get(str(result.status), 0) + 1
        kind = result.replies[0].split("#")[0].strip() if result.replies else "(no reply)"
        answers[kind] = answers.get(kind, 0) + 1
    with fake.lock:
        http = [seconds for _, seconds in fake.timings["sms"]]

    def per_incident(action: str, **where: str) -> dict[int, int]:
        counts: dict[int, int] = {}
        for incident_id in IncidentLogEntry.objects.filter(
            organization=org, action=action, **where
        ).values_list("incident_id", flat=True):
            counts[incident_id] = counts.get(incident_id, 0) + 1
        return counts

    acks = per_incident(LogAction.ACKNOWLEDGED)
    replies = per_incident(LogAction.PHONE, message__startswith="SMS reply")
    inbound = InboundMessage.objects.filter(organization=org)
    inbound_per_incident: dict[int, int] = {}
    for incident_id in inbound.exclude(incident=None).values_list("incident_id", flat=True):
        inbound_per_incident[incident_id] = inbound_per_incident.get(incident_id, 0) + 1
    ids = list(Incident.objects.filter(organization=org).values_list("pk", flat=True))
    return {
        "replies_sent": len(results),
        "send_errors": len(errors),
        "send_errors_first": errors[:5],
        "http_statuses": statuses,
        "answers": answers,
        "fake_send_to_twiml_answer": stats.ms([seconds for seconds, _ in results]),
        "of_which_http_request_to_answer": stats.ms(http),
        "incidents_acknowledged": Incident.objects.filter(
            organization=org, status=Status.ACKNOWLEDGED
        ).count(),
        "inbound_message_rows": inbound.count(),
        "inbound_message_rows_with_incident": sum(inbound_per_incident.values()),
        "acknowledged_log_lines": sum(acks.values()),
        "sms_reply_log_lines": sum(replies.values()),
        "missed": {
            "acknowledged": sum(1 for pk in ids if pk not in acks) + max(0, incidents - len(ids)),
            "sms_reply_log_line": sum(1 for pk in ids if pk not in replies),
            "inbound_message": sum(1 for pk in ids if pk not in inbound_per_incident),
        },
        "duplicated": {
            "acknowledged": sum(1 for n in acks.values() if n > 1),
            "sms_reply_log_line": sum(1 for n in replies.values() if n > 1),
            "inbound_message": sum(1 for n in inbound_per_incident.values() if n > 1),
        },
    }


def _reply_list(org: Any, phones: dict[int, str]) -> list[tuple[str, str]]:
    """One "<code>a" per reply code sent, from the paged person's phone, in paging order."""
    from integrations.twilio.models import SmsCode

    return [
        (phones[user_id], f"{code}a")
        for user_id, code in SmsCode.objects.filter(organization=org)
        .order_by("created_at", "id")
        .values_list("user_id", "code")
    ]


def _table(out: dict[str, Any]) -> str:
    paging, replies = out["paging"], out["replies"]
    page, reply = paging["post_sent_to_sms_at_twilio"], replies["fake_send_to_twiml_answer"]
    http = replies["of_which_http_request_to_answer"]
    missed = max(replies["missed"].values())
    duplicated = max(replies["duplicated"].values())
    rows = [
        ("Figure", "p50", "p99", "max", "target"),
        (
            f"POST -> SMS at Twilio ({page['count']} SMS)",
            page["p50_ms"],
            page["p99_ms"],
            page["max_ms"],
            "p99 < 1000 ms",
        ),
        (
            f"SMS reply -> TwiML answer ({reply['count']})",
            reply["p50_ms"],
            reply["p99_ms"],
            reply["max_ms"],
            "p99 < 500 ms",
        ),
        ("of which the HTTP request", http["p50_ms"], http["p99_ms"], http["max_ms"], ""),
        (
            "replies missed / duplicated",
            missed,
            duplicated,
            "",
            "0 / 0",
        ),
    ]
    lines = [
        "| " + " | ".join(str(c) for c in row) + " |" for row in [rows[0], ("---",) * 5, *rows[1:]]
    ]
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------


def main() -> None:
    args = _arguments()
    import django

    django.setup()
    from django.db import connections

    fake = _timed_fake().start()
    bench = _setup(fake, args.people)
    org = bench["org"]
    queued_at_start = procfile.queued_tasks()
    connections.close_all()
    env = {
        "OPSDUTY_WEB_PORT": str(PORT),
        "OPSDUTY_RUN_DIR": RUN_DIR,
        "OPSDUTY_EMAIL_BACKEND": EMAIL_BACKEND,
        "OPSDUTY_TWILIO_API_URL": fake.url,
        "OPSDUTY_PUBLIC_URL": WEB,
    }
    base = baseline.measure()
    load = os.getloadavg()
    processes = {name: procfile.start(name, env) for name in PROCESSES}
    try:
        procfile.wait_for_port(PORT)
        procfile.wait_for_worker()
        time.sleep(1.0)  # let beat start its schedule
        usage = cpu.Usage(processes, "bench (fake + load)")
        meter = baseline.CpuMeter(processes, own="bench").start()
        paths = bench["paths"]
        dedups = [f"tel-{bench['stamp']}-{n}" for n in range(args.incidents)]
        events = [
            (dedup, paths[n % len(paths)], alert_body(n, dedup)) for n, dedup in enumerate(dedups)
        ]
        sent = post_all(PORT, events, rate=args.rate, clients=args.clients)
        waited = _wait_for_pages(org, args.incidents, args.timeout)
        cpu_paging = usage.mark()
        per_incident = meter.stop(args.incidents, "incident")
        with fake.lock:
            callbacks_while_paging = len(fake.timings["status"])
        meter.start()
        settle_started = time.monotonic()
        fake.settle(timeout=args.timeout)  # the status callbacks (sent, delivered)
        callbacks_seconds = time.monotonic() - settle_started
        cpu_callbacks = usage.mark()
        paging = _paging_figures(fake, org, sent)
        with fake.lock:
            status_http = [seconds for _, seconds in fake.timings["status"]]
        # Those answered while paging are in the paging's figures.
        per_callback = meter.stop(len(status_http) - callbacks_while_paging, "callback")
        paging["status_callbacks"] = {
            "count": len(status_http),
            "http_request_to_answer": stats.ms(status_http),
            "seconds_draining_after_last_sms": round(callbacks_seconds, 1),
        }
        replies = _reply_list(org, bench["phones"])
        meter.start()
        results, reply_seconds = _send_replies(
            fake, replies, bench["number"], args.reply_rate, args.senders
        )
        fake.settle(timeout=args.timeout)
        cpu_replies = usage.mark()
        per_reply = meter.stop(len(results), "reply")
        reply_figures = _reply_figures(fake, org, results, args.incidents)
    finally:
        for process in processes.values():
            procfile.stop(process)
        fake.stop()
    out = {
        "benchmark": "telephony",
        "incidents": args.incidents,
        "rate_per_second": args.rate or "unpaced burst",
        "people": args.people,
        "policy": "notify the service's person (rule: SMS at 0 minutes)",
        "queued_tasks_at_start": queued_at_start,
        "baseline": base,
        "cpu_components": baseline.components(
            PROCESSES, bench="this process: the fake Twilio and the load (not in _all)"
        ),
        "paging": {
            "posts_per_second": round(args.incidents / sent.seconds, 1),
            "share_of_raw": baseline.share_of_raw(args.incidents / sent.seconds, base),
            **per_incident,
            "post_seconds": round(sent.seconds, 2),
            "post_statuses": {str(k): v for k, v in sorted(sent.statuses.items())},
            "seconds_waited_after_posts": round(waited, 1),
            **paging,
            "fake_errors": fake.errors[:5],
        },
        "replies": {
            "rate_per_second": args.reply_rate or "unpaced",
            "senders": args.senders,
            "seconds": round(reply_seconds, 1),
            "replies_per_second": round(len(results) / reply_seconds, 1),
            "share_of_raw": baseline.share_of_raw(len(results) / reply_seconds, base),
            **per_reply,
            **reply_figures,
        },
        "cpu": {
            "paging": cpu_paging,
            "status_callbacks_drain": cpu_callbacks,
            "replies": cpu_replies,
        },
        "targets": {
            "post_to_sms_p99_ms_below": 1000,
            "reply_p99_ms_below": 500,
            "missed": 0,
            "duplicated": 0,
        },
        "commands": {
            name: shlex.join(
                [
                    Path(part).name if i == 0 else part
                    for i, part in enumerate(procfile.command(name, env))
                ]
            )
            for name in PROCESSES
        },
        "cpus": os.cpu_count(),
        "load_average_before_and_after": [round(load[0], 2), round(os.getloadavg()[0], 2)],
    }
    out["paging"]["status_callbacks"].update(per_callback)
    print(json.dumps(out, indent=2))
    print(_table(out), file=sys.stderr)
    paging, replying = out["paging"], out["replies"]
    baseline.print_table(
        base,
        [
            (
                f"{args.incidents} webhook events paced at {args.rate:g}/s, each an SMS page",
                f"{paging['posts_per_second']} POSTs/s, POST to SMS p99"
                f" {paging['post_sent_to_sms_at_twilio']['p99_ms']} ms",
                paging["share_of_raw"],
                paging,
            ),
            (
                "the status callbacks (sent, delivered) left after the pages, drained",
                f"{paging['status_callbacks']['cpu_measured_over']['callbacks']} of"
                f" {paging['status_callbacks']['count']} callbacks (the rest: in the pages')",
                None,
                paging["status_callbacks"],
            ),
            (
                f"{len(results)} SMS replies at {args.reply_rate:g}/s, {args.senders} senders",
                f"{replying['replies_per_second']} replies/s, send to answer p99"
                f" {replying['fake_send_to_twiml_answer']['p99_ms']} ms",
                replying["share_of_raw"],
                replying,
            ),
        ],
    )


if __name__ == "__main__":
    main()
