"""Slack benchmark: incident messages posted quickly, and kept current under a burst of changes.

Serves the product the way `make run` does (the Procfile's `web:`, `worker:`, `escalator:`
and `beat:` lines, DEBUG off; not `slack:` nor `phone:`: the bench runs its own fake) with the
fake Slack (`integrations/slack/fake/`) in this process on a free loopback port: the spawned
processes reach it through `OPSDUTY_SLACK_API_URL` with the real `slack_sdk`.

A bench organization has a Slack workspace installed (`FakeSlack.install`'s bot token in a
`SlackWorkspace` row) and `--channels` services, each with its own Slack channel
(`Service.slack_channel`) and no escalation policy (nobody is paged: the Slack messages are
what is measured). Incidents go round-robin over the services, so at `--rate` 20/s each of the
25 channels gets 0.8 new messages a second: within Slack's documented rate for posting, about
one message a second per channel with short bursts allowed. The fake measures every
channel's writes (`chat.postMessage` and `chat.update`) against a token bucket of 1 a second
with a burst of 4 (`FakeSlack.channel_rate`), the product's own pace
(`OPSDUTY_SLACK_CHANNEL_INTERVAL_MS` 1000, `OPSDUTY_SLACK_CHANNEL_BURST` 4).

1. Posting: `--incidents` webhook events, `--rate` a second, each opening an incident.
   Measured: POST sent (and POST answered 202) -> the fake's arrival time of the incident's
   `chat.postMessage` (p50/p99/max); incidents posted, missing, duplicated (more than one
   top-level message). Then the run waits until no channel has been written for 3 s.
2. Burst: `--burst-incidents` of the posted incidents (an equal share of every channel) get
   `--changes` state changes each, sent as fast as `--clients` keep-alive connections allow
   (each incident's changes in order, the incidents interleaved): acknowledge, unacknowledge,
   resolve and unresolve through API v1 (a personal API token) and urgency changes through
   the incident page's form (a signed-in session: API v1 has no urgency route); a random walk
   per incident (seed `--seed`), so the final states differ. Then the run waits until every
   message shows its incident's final state and no channel has been written for 5 s.
   Checked: the database's final state is the walk's; every channel message's latest blocks
   ("*Status*" and "*Urgency*" fields) show it (none lost); what each message showed during
   the burst follows the walk's order (never an older state after a newer one). Measured:
   `chat.update` calls (coalescing: updates per change), per-channel writes against Slack's
   rate (overruns of the 1/s, burst-4 bucket; most writes in any 1-second window), the API
   and form requests' answer times, and the time from an incident's last change (answered)
   to its message showing the final state (p50/p99/max; the last of them from the burst's
   last change).

CPU seconds of each process (tree) per phase, and of this process (fake + load generator).
Beside them (bench/support/baseline.py): the raw-PostgreSQL baseline measured in the same run
before the processes start, the posting rate (paced: what the load asked of the machine) and
the burst's changes a second (unpaced) as shares of it, and CPU ms of every component (each
process, PostgreSQL, Redis; this process, not summed into `_all`) per incident posted and per
change of the burst. Prints one JSON object on stdout and short Markdown tables on stderr.

    eval "$(make -s services)"; .venv/bin/python manage.py migrate
    .venv/bin/python bench/slack.py [--incidents 1000 --rate 20 --channels 25]

Environment: BENCH_PORT (web, default 8318), BENCH_LOG_DIR (keep each process's output).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shlex
import string
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
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
os.environ["OPSDUTY_PUBLIC_URL"] = WEB  # the links in the messages
RUN_DIR = tempfile.mkdtemp(prefix="opsduty-bench-slack-")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The fake is this process; `slack:` and `phone:` would start the development fakes.
PROCESSES = [name for name in procfile.names() if name not in ("slack", "phone")]
CLIENT_ID, CLIENT_SECRET = "1111.2222", secrets.token_hex(16)
SIGNING_SECRET = secrets.token_hex(16)
# Slack: "1 message per second per channel, short bursts allowed"; the product's pace.
CHANNEL_RATE, CHANNEL_BURST = 1.0, 4
# The API's per-user rate (1,200/min by default) would throttle the burst's one user.
API_RATE = "1000000/min"
POST_QUIET_SECONDS = 3.0
BURST_QUIET_SECONDS = 5.0
GIVE_UP_QUIET_SECONDS = 30.0

State = tuple[str, str]  # (status, urgency) as the database spells them


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="incidents a second (0: burst)")
    parser.add_argument("--channels", type=int, default=25, help="services, one channel each")
    parser.add_argument("--burst-incidents", type=int, default=100)
    parser.add_argument("--changes", type=int, default=10, help="state changes per incident")
    parser.add_argument("--clients", type=int, default=8, help="HTTP connections")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait per phase")
    args = parser.parse_args()
    if args.burst_incidents > args.incidents:
        parser.error("--burst-incidents must not exceed --incidents")
    return args


# --- set-up ---------------------------------------------------------------------------------


def _setup(fake: Any, channels: int) -> dict[str, Any]:
    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from escalations.catalog import services as catalog_services
    from integrations.slack.models import SlackWorkspace
    from opsduty import services
    from opsduty.models import Role, Team
    from signals.models import Webhook

    stamp = time.strftime("%Y%m%d%H%M%S")
    org = services.organization_create(name="Bench Slack", domain=f"bench-slack-{stamp}")
    owner = services.user_create(
        organization=org,
        email=f"owner@bench-slack-{stamp}.test",
        password=None,
        role=Role.OWNER,
        first_name="Bench",
        last_name="Owner",
    )
    team = Team.objects.create(organization=org, name="Bench")
    services.team_add_member(team=team, user=owner, by=None)
    # A team id no earlier run installed (SlackWorkspace.team_id is unique).
    team_id = "T" + secrets.token_hex(5).upper()
    fake.add_team(team_id, "Bench")
    fake.add_channel(team_id, "C0BENCHALL", "incidents")
    webhook = Webhook.objects.create(
        organization=org, name="Bench", rate_limit_per_minute=1_000_000
    )
    SlackWorkspace.objects.create(
        organization=org,
        team_id=team_id,
        team_name="Bench",
        bot_token=fake.install(team_id),
        default_channel_id="C0BENCHALL",
        default_channel_name="incidents",
        installed_at=timezone.now(),
    )
    paths = []
    for i in range(channels):
        channel_id = f"C0BENCH{i:03d}"
        fake.add_channel(team_id, channel_id, f"bench-{i}")
        service = catalog_services.service_create(
            team=team, by=None, name=f"Bench {i}", slack_channel=channel_id
        )
        path = f"/integrations/webhooks/enque/event/{webhook.key}/{service.routing_key}"
        paths.append(path)
    client = Client()
    client.force_login(owner)
    return {
        "org": org,
        "stamp": stamp,
        "paths": paths,
        "channels": [f"C0BENCH{i:03d}" for i in range(channels)],
        "token": services.api_token_create(user=owner),
        "session": (
            settings.SESSION_COOKIE_NAME,
            client.cookies[settings.SESSION_COOKIE_NAME].value,
        ),
        "csrf": (
            settings.CSRF_COOKIE_NAME,
            "".join(secrets.choice(string.ascii_letters) for _ in range(32)),
        ),
    }


# --- what the fake saw ----------------------------------------------------------------------


def _blocks(params: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = params.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return blocks if isinstance(blocks, list) else []


def _incident_of(blocks: list[dict[str, Any]]) -> int | None:
    """The incident a message is about (its buttons' block id is `incident:<pk>`)."""
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        if block_id.startswith("incident:"):
            return int(block_id.split(":", 1)[1])
    return None


def _shown(blocks: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(status label, urgency label) of the message's fields block ("Acknowledged", "High")."""
    for block in blocks:
        if block.get("block_id") != "fields":
            continue
        found: dict[str, str] = {}
        for each in block.get("fields") or []:
            head, _, value = str(each.get("text", "")).partition("\n")
            found[head] = value
        status = found.get("*Status*", "").split()
        # ":large_yellow_circle: Acknowledged by Bench Owner": the word after the emoji
        words = [w for w in status if not (w.startswith(":") and w.endswith(":"))]
        return (words[0] if words else "", found.get("*Urgency*", "").strip())
    return None


def _writes(fake: Any, since: float = 0.0) -> list[Any]:
    """The app's successful chat.postMessage and chat.update calls since `since`."""
    with fake.state.lock:
        calls = [
            c
            for c in fake.state.calls
            if c.method in ("chat.postMessage", "chat.update") and c.at >= since
        ]
    return [c for c in calls if c.status == 200 and c.error is None]


def _wait_quiet(fake: Any, quiet: float, timeout: float, done: Any = None) -> float:
    """Until no Slack task is queued, no channel was written for `quiet` seconds and `done()`
    holds (if given); or nothing was written for GIVE_UP_QUIET_SECONDS, or `timeout`. The
    seconds waited."""
    started = time.time()
    while time.time() - started < timeout:
        with fake.state.lock:
            last = max((at for writes in fake.state.writes.values() for at in writes), default=0)
        idle = time.time() - max(last, started)
        queued = procfile.queued_tasks(("notify",))  # slack.* tasks (opsduty/celery.py)
        if idle >= quiet and not queued and (done is None or done()):
            break
        if idle >= GIVE_UP_QUIET_SECONDS:
            break
        time.sleep(0.5)
    return time.time() - started


# --- phase 1: posting -----------------------------------------------------------------------


def _posts(fake: Any) -> dict[int, list[Any]]:
    """Top-level chat.postMessage calls answered ok, by incident."""
    by_incident: dict[int, list[Any]] = {}
    for call in _writes(fake):
        if call.method != "chat.postMessage" or call.params.get("thread_ts"):
            continue
        incident_id = _incident_of(_blocks(call.params))
        if incident_id is not None:
            by_incident.setdefault(incident_id, []).append(call)
    return by_incident


def _wait_for_posts(fake: Any, org: Any, incidents: int, timeout: float) -> float:
    from incidents.models import Incident

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        ids = set(Incident.objects.filter(organization=org).values_list("pk", flat=True))
        if len(ids) >= incidents and ids <= set(_posts(fake)):
            break
        time.sleep(0.5)
    return time.monotonic() - started


def _posting_figures(fake: Any, org: Any, sent: Any) -> dict[str, Any]:
    from incidents.models import Incident

    dedup_of = dict(Incident.objects.filter(organization=org).values_list("pk", "dedup_id"))
    posts = _posts(fake)
    to_slack, answered_to_slack, in_order = [], [], []
    for incident_id, calls in posts.items():
        dedup = dedup_of.get(incident_id)
        if dedup in sent.sent:
            first = min(call.at for call in calls)
            to_slack.append(first - sent.sent[dedup])
            answered_to_slack.append(first - sent.answered[dedup])
            in_order.append((sent.sent[dedup], first - sent.sent[dedup]))
    in_order.sort()
    tenth = max(1, len(in_order) // 10)
    by_tenth = [
        stats.ms([latency for _, latency in in_order[i : i + tenth]])
        for i in range(0, len(in_order), tenth)
    ]
    updates = [c for c in _writes(fake) if c.method == "chat.update"]
    return {
        "incidents_created": len(dedup_of),
        "incidents_posted": sum(1 for pk in dedup_of if pk in posts),
        "missing": sum(1 for pk in dedup_of if pk not in posts)
        + max(0, len(sent.sent) - len(dedup_of)),
        "duplicated": sum(1 for calls in posts.values() if len(calls) > 1),
        "post_sent_to_message_at_slack": stats.ms(to_slack),
        "post_answered_to_message_at_slack": stats.ms(answered_to_slack),
        # A backlog shows as growing figures from one tenth of the run to the next.
        "post_sent_to_message_by_tenth_of_the_run": [
            f"{t['p50_ms']} / {t['p99_ms']} / {t['max_ms']}" for t in by_tenth
        ],
        "webhook_post_to_answer": stats.ms(
            [sent.answered[d] - sent.sent[d] for d in sent.answered]
        ),
        "chat_update_calls_while_posting": len(updates),
    }


# --- phase 2: the burst of changes ----------------------------------------------------------

# What each change does to (status, urgency), when it applies.
MOVES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "acknowledge": (("triggered",), "acknowledged"),
    "unacknowledge": (("acknowledged",), "triggered"),
    "resolve": (("triggered", "acknowledged"), "resolved"),
    "unresolve": (("resolved",), "triggered"),
    "urgency": (("triggered", "acknowledged", "resolved"), None),
}


def _walk(start: State, changes: int, rng: random.Random) -> list[tuple[str, State]]:
    """`changes` valid changes from `start`, each with the state it leads to."""
    steps, state = [], start
    for _ in range(changes):
        move = rng.choice([m for m, (sources, _) in MOVES.items() if state[0] in sources])
        target = MOVES[move][1]
        if target is None:
            state = (state[0], "low" if state[1] == "high" else "high")
        else:
            state = (target, state[1])
        steps.append((move, state))
    return steps


def _chosen(org: Any, count: int) -> dict[int, tuple[str, State]]:
    """`count` incidents, an equal share of every channel: {pk: (channel, state)}."""
    from incidents.models import Incident
    from integrations.slack.models import MessageKind, SlackMessage

    channel_of = dict(
        SlackMessage.objects.filter(organization=org, kind=MessageKind.CHANNEL)
        .exclude(ts="")
        .values_list("incident_id", "channel_id")
    )
    by_channel: dict[str, list[int]] = {}
    for pk in sorted(channel_of):
        by_channel.setdefault(channel_of[pk], []).append(pk)
    picked: list[int] = []
    while len(picked) < count and any(by_channel.values()):
        for pks in by_channel.values():
            if pks and len(picked) < count:
                picked.append(pks.pop(0))
    states = {
        pk: (status, urgency)
        for pk, status, urgency in Incident.objects.filter(pk__in=picked).values_list(
            "pk", "status", "urgency"
        )
    }
    return {pk: (channel_of[pk], states[pk]) for pk in picked}


@dataclass
class Change:
    incident_id: int
    n: int
    move: str
    state: State
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0


@dataclass
class Sender:
    """How each change is sent: API v1 with the token, the urgency form with the session."""

    token: str
    session: tuple[str, str]
    csrf: tuple[str, str]
    csrf_header: str = "X-CSRFToken"
    connection: http.client.HTTPConnection | None = field(default=None, repr=False)

    def send(self, change: Change) -> None:
        if change.move == "urgency":
            body = f"urgency={change.state[1]}".encode()
            path = f"/incidents/{change.incident_id}/urgency/"
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"{self.session[0]}={self.session[1]}; {self.csrf[0]}={self.csrf[1]}",
                self.csrf_header: self.csrf[1],
            }
        else:
            body = b"{}"
            path = f"/api/v1/incidents/{change.incident_id}/{change.move}/"
            headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        change.sent = time.time()
        change.status = self._post(path, body, headers)
        change.answered = time.time()

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        for attempt in (1, 2):  # a keep-alive connection the server closed: once more
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
            try:
                self.connection.request("POST", path, body=body, headers=headers)
                response = self.connection.getresponse()
                response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.connection.close()
                    self.connection = None
                return response.status
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    return 0
        return 0


def _fire(plan: dict[int, list[Change]], sender: Sender, clients: int) -> float:
    """Send every change, each incident's in order on one connection, the incidents of a
    connection interleaved (change n of each, then n + 1); the seconds it took."""
    incidents = sorted(plan)
    started = time.time()

    def client(mine: list[int]) -> None:
        own = Sender(sender.token, sender.session, sender.csrf, sender.csrf_header)
        for n in range(max(len(plan[pk]) for pk in mine)):
            for pk in mine:
                if n < len(plan[pk]):
                    own.send(plan[pk][n])

    threads = [
        threading.Thread(target=client, args=(incidents[i::clients],), daemon=True)
        for i in range(min(clients, len(incidents)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.time() - started


def _labels(state: State) -> tuple[str, str]:
    from opsduty.choices import Status, Urgency

    return (Status(state[0]).label, Urgency(state[1]).label)


def _messages_now(fake: Any, where: dict[int, tuple[str, str]]) -> dict[int, Any]:
    """The blocks each incident's channel message shows now ({pk: (channel, ts)})."""
    with fake.state.lock:
        found = {}
        for pk, (channel, ts) in where.items():
            message = fake.state.message(channel, ts)
            found[pk] = None if message is None else _shown(message.blocks)
    return found


def _message_places(org: Any, pks: list[int]) -> dict[int, tuple[str, str]]:
    from integrations.slack.models import MessageKind, SlackMessage

    return {
        pk: (channel, ts)
        for pk, channel, ts in SlackMessage.objects.filter(
            organization=org, kind=MessageKind.CHANNEL, incident_id__in=pks
        ).values_list("incident_id", "channel_id", "ts")
    }


def _in_order(shown: list[tuple[str, str]], walk: list[tuple[str, str]]) -> bool:
    """Whether what a message showed, in order, is a subsequence of the walk's states
    (a repeat of the state shown last is allowed: something else in the message changed)."""
    j = 0
    for state in shown:
        while j < len(walk) and walk[j] != state:
            j += 1
        if j == len(walk):
            return False
    return True


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    ordered, most, start = sorted(times), 0, 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - window:
            start += 1
        most = max(most, end - start + 1)
    return most


def _burst_figures(
    fake: Any,
    org: Any,
    chosen: dict[int, tuple[str, State]],
    plan: dict[int, list[Change]],
    started: float,
) -> dict[str, Any]:
    from incidents.models import Incident

    pks = sorted(plan)
    final = {pk: plan[pk][-1].state for pk in pks}
    in_db = {
        pk: (status, urgency)
        for pk, status, urgency in Incident.objects.filter(pk__in=pks).values_list(
            "pk", "status", "urgency"
        )
    }
    places = _message_places(org, pks)
    now_shown = _messages_now(fake, places)
    message_of = {place: pk for pk, place in places.items()}
    updates: dict[int, list[Any]] = {pk: [] for pk in pks}
    for call in _writes(fake, since=started):
        pk = message_of.get((str(call.params.get("channel")), str(call.params.get("ts"))))
        if call.method == "chat.update" and pk is not None:
            updates[pk].append(call)
    changes = [c for pk in pks for c in plan[pk]]
    to_final, last_matched = [], 0.0
    out_of_order = 0
    for pk in pks:
        walk = [_labels(chosen[pk][1])] + [_labels(c.state) for c in plan[pk]]
        shown = [_shown(_blocks(c.params)) for c in updates[pk]]
        if not _in_order([s for s in shown if s is not None], walk):
            out_of_order += 1
        # The write from which on the message showed the final state (the burst's start if
        # it showed it then and was not written since).
        matched_at = started if walk[0] == _labels(final[pk]) else float("inf")
        for call, state in zip(updates[pk], shown, strict=True):
            if state != _labels(final[pk]):
                matched_at = float("inf")
            elif matched_at == float("inf"):
                matched_at = call.at
        if matched_at != float("inf"):
            last_change = plan[pk][-1].answered
            to_final.append(max(0.0, matched_at - last_change))
            last_matched = max(last_matched, matched_at)
    last_change_all = max(c.answered for c in changes)
    statuses: dict[str, int] = {}
    for change in changes:
        key = f"{change.move} {change.status}"
        statuses[key] = statuses.get(key, 0) + 1
    update_count = sum(len(calls) for calls in updates.values())
    return {
        "incidents": len(pks),
        "changes": len(changes),
        "answers": dict(sorted(statuses.items())),
        "api_answer": stats.ms([c.answered - c.sent for c in changes if c.move != "urgency"]),
        "form_answer": stats.ms([c.answered - c.sent for c in changes if c.move == "urgency"]),
        "final_states": _count(f"{s} / {u}" for s, u in final.values()),
        "database_not_at_final_state": sum(1 for pk in pks if in_db.get(pk) != final[pk]),
        "messages_not_showing_final_state": sum(
            1 for pk in pks if now_shown.get(pk) != _labels(final[pk])
        ),
        "messages_out_of_order": out_of_order,
        "chat_update_calls": update_count,
        "updates_per_change": round(update_count / len(changes), 3) if changes else None,
        "updates_per_incident_min_max": [
            min(len(c) for c in updates.values()),
            max(len(c) for c in updates.values()),
        ],
        "last_change_to_message_final": stats.ms(to_final),
        "burst_last_change_to_last_message_final_seconds": round(
            max(0.0, last_matched - last_change_all), 2
        ),
    }


def _count(values: Any) -> dict[str, int]:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return dict(sorted(counted.items()))


def _refused(times: list[float]) -> list[tuple[float, float]]:
    """The writes a token bucket at Slack's rate refuses (as `FakeSlack.channel_overruns`
    counts them): when, and how many seconds too early (until the bucket had a token)."""
    tokens, last, refused = float(CHANNEL_BURST), None, []
    for at in times:
        tokens = tokens if last is None else min(CHANNEL_BURST, tokens + (at - last) * CHANNEL_RATE)
        last = at
        if tokens >= 1:
            tokens -= 1
        else:
            refused.append((at, (1 - tokens) / CHANNEL_RATE))
    return refused


def _channel_figures(fake: Any, channels: list[str], burst_started: float) -> dict[str, Any]:
    """Writes per channel against Slack's rate, over the whole run and during the burst."""
    writes = {channel: fake.channel_writes(channel) for channel in channels}
    overruns = {channel: fake.channel_overruns(channel) for channel in channels}
    refused = [at for times in writes.values() for at in _refused(times)]
    if len(refused) != sum(overruns.values()):
        raise SystemExit("the bench's token bucket disagrees with the fake's")
    burst = {ch: [t for t in times if t >= burst_started] for ch, times in writes.items()}
    return {
        "rate_checked": f"{CHANNEL_RATE:g}/s, burst {CHANNEL_BURST} (token bucket at the fake)",
        "overruns_total": sum(overruns.values()),
        "overruns_while_posting": sum(1 for at, _ in refused if at < burst_started),
        "overruns_early_by": stats.ms([early for _, early in refused]),
        "channels_with_overruns": sum(1 for n in overruns.values() if n),
        "max_writes_in_any_1s_window": max(_max_in_window(t) for t in writes.values()),
        "max_writes_in_any_1s_window_while_posting": max(
            _max_in_window([t for t in times if t < burst_started]) for times in writes.values()
        ),
        "writes_per_channel_in_burst_min_max": [
            min(len(t) for t in burst.values()),
            max(len(t) for t in burst.values()),
        ],
    }


# --- output ---------------------------------------------------------------------------------


def _table(out: dict[str, Any]) -> str:
    posting, burst, rate = out["posting"], out["burst"], out["channel_rate"]
    post = posting["post_sent_to_message_at_slack"]
    final = burst["last_change_to_message_final"]
    rows = [
        ("Figure", "p50", "p99", "max", "target"),
        (
            f"POST -> chat.postMessage at Slack ({post['count']} incidents)",
            post["p50_ms"],
            post["p99_ms"],
            post["max_ms"],
            "p99 < 1000 ms",
        ),
        (
            "incidents posted / missing / duplicated",
            posting["incidents_posted"],
            posting["missing"],
            posting["duplicated"],
            "all / 0 / 0",
        ),
        (
            f"last change -> message final ({final['count']} incidents)",
            final["p50_ms"],
            final["p99_ms"],
            final["max_ms"],
            "",
        ),
        (
            f"{burst['changes']} changes: messages not final / out of order / DB not final",
            burst["messages_not_showing_final_state"],
            burst["messages_out_of_order"],
            burst["database_not_at_final_state"],
            "0 / 0 / 0",
        ),
        (
            "chat.update calls (per change)",
            burst["chat_update_calls"],
            burst["updates_per_change"],
            "",
            "",
        ),
        (
            "per-channel overruns / most writes in 1 s",
            rate["overruns_total"],
            rate["max_writes_in_any_1s_window"],
            "",
            f"0 / <= {CHANNEL_BURST}",
        ),
    ]
    lines = [
        "| " + " | ".join(str(c) for c in row) + " |" for row in [rows[0], ("---",) * 5, *rows[1:]]
    ]
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------


def _plan(chosen: dict[int, tuple[str, State]], changes: int, seed: int) -> dict[int, list[Change]]:
    rng = random.Random(seed)
    return {
        pk: [
            Change(pk, n, move, state) for n, (move, state) in enumerate(_walk(start, changes, rng))
        ]
        for pk, (_, start) in sorted(chosen.items())
    }


def main() -> None:
    args = _arguments()
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    from integrations.slack.fake import FakeSlack

    fake = FakeSlack(
        signing_secret=SIGNING_SECRET,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        app_url=WEB,
    ).start()
    fake.channel_rate(CHANNEL_RATE, burst=CHANNEL_BURST)
    bench = _setup(fake, args.channels)
    org = bench["org"]
    queued_at_start = procfile.queued_tasks()
    connections.close_all()
    env = {
        "OPSDUTY_WEB_PORT": str(PORT),
        "OPSDUTY_RUN_DIR": RUN_DIR,
        "OPSDUTY_EMAIL_BACKEND": EMAIL_BACKEND,
        "OPSDUTY_PUBLIC_URL": WEB,
        "OPSDUTY_SLACK_CLIENT_ID": CLIENT_ID,
        "OPSDUTY_SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "OPSDUTY_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "OPSDUTY_SLACK_API_URL": fake.api_url,
        "OPSDUTY_API_RATE": API_RATE,
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
        dedups = [f"slack-{bench['stamp']}-{n}" for n in range(args.incidents)]
        events = [
            (dedup, paths[n % len(paths)], alert_body(n, dedup)) for n, dedup in enumerate(dedups)
        ]
        sent = post_all(PORT, events, rate=args.rate, clients=args.clients)
        waited = _wait_for_posts(fake, org, args.incidents, args.timeout)
        settled = _wait_quiet(fake, POST_QUIET_SECONDS, args.timeout)
        cpu_posting = usage.mark()
        per_incident = meter.stop(args.incidents, "incident")
        posting = _posting_figures(fake, org, sent)

        chosen = _chosen(org, args.burst_incidents)
        plan = _plan(chosen, args.changes, args.seed)
        places = _message_places(org, sorted(plan))
        finals = {pk: _labels(steps[-1].state) for pk, steps in plan.items()}
        sender = Sender(
            bench["token"],
            bench["session"],
            bench["csrf"],
            settings.CSRF_HEADER_NAME.removeprefix("HTTP_").replace("_", "-"),
        )
        burst_started = time.time()
        meter.start()
        fired = _fire(plan, sender, args.clients)

        def all_final() -> bool:
            return _messages_now(fake, places) == finals

        converged = _wait_quiet(fake, BURST_QUIET_SECONDS, args.timeout, all_final)
        cpu_burst = usage.mark()
        changes_sent = sum(len(steps) for steps in plan.values())
        per_change = meter.stop(changes_sent, "change")
        burst = _burst_figures(fake, org, chosen, plan, burst_started)
        channel_rate = _channel_figures(fake, bench["channels"], burst_started)
        with fake.state.lock:
            failed = [
                f"{c.method} {c.status} {c.error}"
                for c in fake.state.calls
                if c.status != 200 or c.error
            ]
    finally:
        for process in processes.values():
            procfile.stop(process)
        fake.stop()
    out = {
        "benchmark": "slack",
        "incidents": args.incidents,
        "rate_per_second": args.rate or "unpaced burst",
        "channels": args.channels,
        "new_messages_per_second_per_channel": round(args.rate / args.channels, 2)
        if args.rate
        else "unpaced",
        "policy": "none (nobody paged): the services' Slack channels only",
        "queued_tasks_at_start": queued_at_start,
        "baseline": base,
        "cpu_components": baseline.components(
            PROCESSES, bench="this process: the fake Slack and the load (not in _all)"
        ),
        "posting": {
            "posts_per_second": round(args.incidents / sent.seconds, 1),
            "share_of_raw": baseline.share_of_raw(args.incidents / sent.seconds, base),
            **per_incident,
            "post_seconds": round(sent.seconds, 2),
            "post_statuses": {str(k): v for k, v in sorted(sent.statuses.items())},
            "seconds_waited_after_posts": round(waited, 1),
            "seconds_until_channels_quiet": round(settled, 1),
            **posting,
        },
        "burst": {
            "changes_per_incident": args.changes,
            "clients": args.clients,
            "seed": args.seed,
            "seconds_sending": round(fired, 2),
            "changes_per_second": round(changes_sent / fired, 1) if fired else None,
            "share_of_raw": baseline.share_of_raw(changes_sent / fired if fired else None, base),
            **per_change,
            "seconds_waited_after_sending": round(converged, 1),
            **burst,
        },
        "channel_rate": channel_rate,
        "fake_failed_calls": len(failed),
        "fake_failed_calls_first": failed[:5],
        "cpu": {"posting": cpu_posting, "burst": cpu_burst},
        "targets": {
            "post_to_message_p99_ms_below": 1000,
            "messages_not_showing_final_state": 0,
            "channel_overruns": 0,
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
    print(json.dumps(out, indent=2))
    print(_table(out), file=sys.stderr)
    posting_out, burst_out = out["posting"], out["burst"]
    baseline.print_table(
        base,
        [
            (
                f"{args.incidents} webhook events paced at {args.rate:g}/s over"
                f" {args.channels} channels, each a Slack message",
                f"{posting_out['posts_per_second']} POSTs/s, POST to message p99"
                f" {posting_out['post_sent_to_message_at_slack']['p99_ms']} ms",
                posting_out["share_of_raw"],
                posting_out,
            ),
            (
                f"{changes_sent} changes on {args.burst_incidents} incidents, unpaced,"
                f" {args.clients} connections, until every message is final",
                f"{burst_out['changes_per_second']} changes/s,"
                f" {burst_out['chat_update_calls']} chat.update calls",
                burst_out["share_of_raw"],
                burst_out,
            ),
        ],
    )


if __name__ == "__main__":
    main()
