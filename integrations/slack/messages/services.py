"""Incident messages kept current: posted when an incident opens, updated in place
(`chat.update`) after every change, in order and coalesced.

Every change writes an incident log line; the incidents hook calls `incident_touched` inside
that transaction, which only notes the incident. After the commit one task per incident runs
`incident_messages_sync`: it (creates and) locks each message row of the incident, renders
the incident as it is *then*, and calls Slack only if what Slack shows differs. Since the
render happens under the row lock, the last sync to run renders the newest state: an older
state can never overwrite a newer one, and ten quick changes cost one or two updates.

Slack allows about one message per second per channel: a per-channel pace (GCRA in Redis)
makes a sync wait its turn; a 429 waits `Retry-After`. Either way the sync is re-queued on
Celery with a countdown (never a sleep), and only one re-queued sync per message waits at a
time (it renders whatever is newest when it runs).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, partial
from typing import Any

import orjson
import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from slack_sdk.errors import SlackClientError

from incidents.hooks import LogLine
from incidents.models import Incident, IncidentLogEntry, IncidentNote, LogAction
from integrations.slack import selectors
from integrations.slack.channels import channel_for_incident
from integrations.slack.client import slack_client
from integrations.slack.errors import Failure, failure_of
from integrations.slack.messages.blocks import incident_rendered, mrkdwn_escape
from integrations.slack.models import MessageKind, SlackMessage, SlackWorkspace
from opsduty.queue import enqueue

__all__ = [
    "SyncLater",
    "incident_messages_sync",
    "incident_touched",
    "later_claim",
    "message_digest",
    "message_sync",
    "pace_settle",
    "pace_wait",
    "workspace_failure_record",
]

logger = logging.getLogger(__name__)
THREAD_LINES_PER_SYNC = 10


class SyncLater(Exception):
    """Try this message again in `seconds` (the channel's pace, or Slack's Retry-After)."""

    def __init__(self, message_id: int, seconds: float, failure: Failure | None = None) -> None:
        super().__init__(f"message {message_id}: again in {seconds:.1f} s")
        self.message_id = message_id
        self.seconds = seconds
        # What Slack answered (a 429), recorded once the message's transaction is over.
        self.failure = failure


# --- After the commit: one sync per touched incident ---------------------------------------


@dataclass
class _Touched:
    """This transaction's touched incidents; called once, after the commit."""

    incident_ids: set[int] = field(default_factory=set)
    called: bool = False

    def __call__(self) -> None:
        self.called = True
        try:
            enqueue("slack.incidents_sync", (sorted(self.incident_ids),))
        except Exception as error:  # noqa: BLE001 - after the commit: never turn it into a 500
            # The broker (Redis) is down: the messages catch up at the incidents' next change.
            logger.warning("Slack messages not synced (%s)", type(error).__name__)


def _pending() -> _Touched | None:
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None
    for _savepoints, callback, _robust in connection.run_on_commit:
        if isinstance(callback, _Touched) and not callback.called:
            return callback
    return None


def incident_touched(line: LogLine) -> None:
    """The incidents hook: `line.incident` changed. Queue its sync after the commit (once per
    transaction and incident), if its organization uses Slack."""
    incident = line.incident
    if not selectors.organization_has_slack(incident.organization_id):
        return
    touched = _pending()
    if touched is None:
        touched = _Touched()
        transaction.on_commit(touched)
    touched.incident_ids.add(incident.pk)


# --- The channel's pace ---------------------------------------------------------------------

# GCRA: the key holds the theoretical arrival time (ms) of the next message; a message may go
# when it is at most `tolerance` ahead of now. Returns 0 (go) or the milliseconds to wait.
_PACE_SCRIPT = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - tolerance > now then return tat - tolerance - now end
redis.call('SET', KEYS[1], tat + interval, 'PX', tolerance + interval * 2)
return 0
"""


# Slack counts a write when it arrives, which is after the turn was taken (the request built
# and sent) and at the latest when Slack answers; that delay varies from write to write. So
# after each write the next theoretical arrival is at least the answer's time + interval:
# writes as Slack counts them then keep the pace too (measured: without this, a channel kept
# at the pace had writes arriving up to 21 ms early by Slack's count).
_PACE_SETTLE_SCRIPT = """
local floor = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < floor then redis.call('SET', KEYS[1], floor, 'PX', ARGV[2]) end
return 0
"""


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def _pace(team_id: str, channel_id: str) -> tuple[str, int, int, int]:
    """The channel's key, now, the interval and the tolerance (milliseconds)."""
    interval = max(1, int(settings.OPSDUTY_SLACK_CHANNEL_INTERVAL_MS))
    tolerance = interval * max(0, settings.OPSDUTY_SLACK_CHANNEL_BURST - 1)
    now = int(timezone.now().timestamp() * 1000)
    return f"slack:pace:{team_id}:{channel_id}", now, interval, tolerance


def pace_wait(team_id: str, channel_id: str) -> float:
    """Take a turn to write to the channel: 0 when it is ours now, else seconds to wait."""
    key, now, interval, tolerance = _pace(team_id, channel_id)
    try:
        waited = _redis().eval(_PACE_SCRIPT, 1, key, now, interval, tolerance)
    except redis.RedisError:
        # Without Redis the pace is unknown: write now; Slack's own 429 + Retry-After (the
        # SDK's rate-limit handler) paces us instead. A message is never held for Redis.
        logger.warning("Slack pace unavailable (Redis): writing without it")
        return 0.0
    return int(waited) / 1000


def pace_settle(team_id: str, channel_id: str) -> None:
    """After a write to the channel (Slack answered): count its next turn from now."""
    key, now, interval, tolerance = _pace(team_id, channel_id)
    try:
        _redis().eval(_PACE_SETTLE_SCRIPT, 1, key, now + interval, tolerance + interval * 2)
    except redis.RedisError:
        logger.warning("Slack pace not settled: Redis unavailable")


def later_claim(message_id: int, seconds: float) -> bool:
    """Whether this sync is the one to re-queue (one waiting sync per message)."""
    return bool(_redis().set(f"slack:later:{message_id}", "1", nx=True, ex=int(seconds) + 30))


def _later_release(message_id: int) -> None:
    _redis().delete(f"slack:later:{message_id}")


# --- Sync ------------------------------------------------------------------------------------


def workspace_failure_record(workspace: SlackWorkspace, failure: Failure) -> None:
    """Show what went wrong on the settings page (and when Slack lets us send again)."""
    now = timezone.now()
    values: dict[str, Any] = {"last_error": failure.message[:300], "last_error_at": now}
    if failure.code == "ratelimited" and failure.retry_after:
        values["rate_limited_until"] = now + timedelta(seconds=failure.retry_after)
    SlackWorkspace.objects.filter(pk=workspace.pk).update(**values)


def message_digest(text: str, blocks: list[dict[str, Any]]) -> str:
    return hashlib.sha256(orjson.dumps([text, blocks])).hexdigest()


def _channel_message_ensure(workspace: SlackWorkspace, incident: Incident) -> None:
    """The incident's channel message row, for incidents opened since the install."""
    if incident.created_at < workspace.installed_at:
        return
    channel = channel_for_incident(workspace, incident)
    if not channel:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {SlackMessage._meta.db_table}"  # noqa: S608 - our table, values bound
            " (organization_id, incident_id, workspace_id, kind, channel_id, ts, rendered_hash,"
            " thread_log_id, created_at)"
            " VALUES (%s, %s, %s, %s, %s, '', '', 0, now())"
            " ON CONFLICT (incident_id) WHERE kind = 'channel' DO NOTHING",
            [incident.organization_id, incident.pk, workspace.pk, MessageKind.CHANNEL, channel],
        )


def incident_messages_sync(*, incident_id: int) -> list[SyncLater]:
    """Bring every Slack message of the incident to its current state (posting the channel's
    message first if it has none); the messages that must wait, with how long."""
    incident = Incident.objects.select_related("service").filter(pk=incident_id).first()
    if incident is None:
        return []
    workspace = selectors.workspace_for_organization(incident.organization_id)
    if workspace is None:
        return []
    _channel_message_ensure(workspace, incident)
    waits = []
    for message_id in SlackMessage.objects.filter(incident_id=incident_id).values_list(
        "pk", flat=True
    ):
        try:
            message_sync(message_id=message_id)
        except SyncLater as later:
            if later_claim(message_id, later.seconds):
                waits.append(later)
    return waits


def _call(workspace: SlackWorkspace, message: SlackMessage, send: Callable[[], Any]) -> Any:
    """One write to the message's channel (its turn taken); Slack's answer, None if it failed."""
    try:
        return send()
    except (SlackClientError, OSError) as error:
        failure = failure_of(error)
        if failure.retry_after is not None:
            raise SyncLater(message.pk, failure.retry_after, failure) from error
        workspace_failure_record(workspace, failure)
        logger.warning("slack message %s not synced: %s", message.pk, failure.message)
        return None
    finally:
        pace_settle(workspace.team_id, message.channel_id)


def message_sync(*, message_id: int, retried: bool = False) -> str:
    """Post or update one message to show its incident as it is now; what was done.

    `retried`: this is the re-queued sync (it releases the claim first, so a change made
    while it runs queues its own sync). Raises `SyncLater` when it must wait.
    """
    if retried:
        _later_release(message_id)
    # A wait met in the thread must not undo what was already posted: raised after the commit.
    later: list[SyncLater] = []
    try:
        done = _message_sync_locked(message_id, later)
    except SyncLater as must_wait:
        later.append(must_wait)
        done = "waiting"
    for each in later:
        if each.failure is not None:
            _failure_record(message_id, each.failure)
    if later:
        raise later[0]
    return done


def _failure_record(message_id: int, failure: Failure) -> None:
    message = SlackMessage.objects.select_related("workspace").filter(pk=message_id).first()
    if message is not None:
        workspace_failure_record(message.workspace, failure)


def _thread_sync_safe(
    workspace: SlackWorkspace, message: SlackMessage, incident: Incident, later: list[SyncLater]
) -> str:
    try:
        return _thread_sync(workspace, message, incident)
    except SyncLater as wait:
        later.append(wait)
        return "threaded"


def _message_sync_locked(message_id: int, later: list[SyncLater]) -> str:
    with transaction.atomic():
        # `of=self`: a bare FOR UPDATE would lock the joined workspace row too, and so make
        # every sync of the workspace wait for the one talking to Slack.
        message = (
            SlackMessage.objects.select_for_update(of=("self",))
            .select_related("workspace")
            .filter(pk=message_id)
            .first()
        )
        if message is None:
            return "gone"
        workspace = message.workspace
        incident = (
            Incident.objects.select_related("service", "parent")
            .prefetch_related("labels")
            .get(pk=message.incident_id)
        )
        rendered = incident_rendered(incident, dm=message.kind == MessageKind.DM)
        digest = message_digest(rendered.text, rendered.blocks)
        if message.ts and digest == message.rendered_hash:
            return _thread_sync_safe(workspace, message, incident, later)
        wait = pace_wait(workspace.team_id, message.channel_id)
        if wait > 0:
            raise SyncLater(message.pk, wait)
        client = slack_client(workspace.bot_token)
        if message.ts:
            answer = _call(
                workspace,
                message,
                lambda: client.chat_update(
                    channel=message.channel_id,
                    ts=message.ts,
                    text=rendered.text,
                    blocks=rendered.blocks,
                ),
            )
            done = "updated"
        else:
            answer = _call(
                workspace,
                message,
                lambda: client.chat_postMessage(
                    channel=message.channel_id,
                    text=rendered.text,
                    blocks=rendered.blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                ),
            )
            done = "posted"
        if answer is None:
            return "failed"
        if not message.ts:
            message.ts = str(answer["ts"])
            message.channel_id = str(answer.get("channel") or message.channel_id)
            # Lines written before the post are in the message itself, not the thread.
            message.thread_log_id = _last_log_id(incident)
        message.rendered_hash = digest
        message.updated_at = timezone.now()
        message.save(
            update_fields=["ts", "channel_id", "rendered_hash", "thread_log_id", "updated_at"]
        )
        _thread_sync_safe(workspace, message, incident, later)
        return done


def _last_log_id(incident: Incident) -> int:
    last = IncidentLogEntry.objects.filter(incident=incident).order_by("-id").first()
    return last.pk if last is not None else 0


def _thread_text(entry: IncidentLogEntry) -> str:
    """A timeline line as a thread reply (a note's own words after its line)."""
    if entry.action == LogAction.NOTE and entry.data.get("note"):
        note = (
            IncidentNote.objects.filter(pk=entry.data["note"])
            .values_list("text", flat=True)
            .first()
        )
        if note:
            return f"{entry.message}: {mrkdwn_escape(note)}"
    return mrkdwn_escape(entry.message)


def _thread_sync(workspace: SlackWorkspace, message: SlackMessage, incident: Incident) -> str:
    """With thread replies on, post the channel message's new timeline lines in its thread
    (names, never mentions: the person who acted is not pinged)."""
    if not (workspace.thread_replies and message.kind == MessageKind.CHANNEL and message.ts):
        return "unchanged"
    lines = [
        (entry.pk, _thread_text(entry))
        for entry in IncidentLogEntry.objects.filter(
            incident=incident, id__gt=message.thread_log_id
        ).order_by("id")[:THREAD_LINES_PER_SYNC]
    ]
    client = slack_client(workspace.bot_token)
    for pk, text in lines:
        if pace_wait(workspace.team_id, message.channel_id) > 0:
            raise SyncLater(message.pk, 1.0)
        reply = partial(
            client.chat_postMessage,
            channel=message.channel_id,
            thread_ts=message.ts,
            text=str(text)[:3000],
            unfurl_links=False,
            unfurl_media=False,
        )
        answer = _call(workspace, message, reply)
        if answer is None:
            break
        message.thread_log_id = pk
        message.save(update_fields=["thread_log_id"])
    return "threaded" if lines else "unchanged"
