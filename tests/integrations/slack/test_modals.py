"""The trigger modal in the fake Slack: `/trigger` and the "Create incident from message"
shortcut open it at once (views.open with the request's trigger id), a submission is checked
field by field, and a valid one opens an incident through the normal pipeline (it escalates)
and tells the person its number."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from escalations.notifications.models import Notification
from incidents.models import Incident
from incidents.selectors import incident_list
from integrations.slack import texts
from integrations.slack.commands.modals import TriggerJob
from integrations.slack.commands.services import slack_incident_trigger
from integrations.slack.fake import View
from integrations.slack.models import SlackUserLink
from opsduty.models import TeamMembership, User
from tests.integrations.slack.conftest import (
    CHANNEL,
    MEMBER_SLACK,
    OWNER_SLACK,
    STAKEHOLDER_SLACK,
    STRANGER_SLACK,
    TEAM_ID,
    Scene,
    user_says,
)

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[Any]]


def _option(value: str) -> dict[str, Any]:
    """A select's option given whole (what a forged submission may carry)."""
    return {"text": {"type": "plain_text", "text": value}, "value": value}


def _open_view(scene: Scene, slack_user_id: str) -> View:
    views = [v for v in scene.fake.views(slack_user_id) if not v.closed]
    assert len(views) == 1
    return views[0]


def _input(view: View, block_id: str) -> dict[str, Any]:
    block = next(b for b in view.view["blocks"] if b.get("block_id") == block_id)
    return dict(block["element"])


def _submit(scene: Scene, capture: Capture, view: View, slack_user_id: str, **values: Any) -> View:
    """Submit the modal with `values` (block id -> value); the view as Slack then shows it."""
    with capture(execute=True):
        scene.fake.submit_view(view.id, slack_user_id, {k: {k: v} for k, v in values.items()})
    return next(v for v in scene.fake.views(slack_user_id) if v.id == view.id)


def test_trigger_opens_the_modal_at_once(slack_scene: Scene) -> None:
    answer = slack_scene.command(MEMBER_SLACK, "/trigger", "Checkout is  slow")
    assert (answer.status, answer.body) == (200, b"")
    [call] = slack_scene.fake.calls("views.open")
    assert call.error is None
    view = _open_view(slack_scene, MEMBER_SLACK)
    # views.open received the trigger id Slack sent with this command.
    assert call.params["trigger_id"] == view.trigger_id
    assert slack_scene.fake.state.triggers[view.trigger_id].user_id == MEMBER_SLACK
    assert view.callback_id == "trigger_incident"
    assert json.loads(view.private_metadata) == {"channel_id": CHANNEL}
    # Only the services of the member's teams; the summary from the command text.
    options = [o["text"]["text"] for o in _input(view, "service")["options"]]
    assert options == ["API", "API Gateway"]
    assert _input(view, "summary")["initial_value"] == "Checkout is slow"
    assert _input(view, "description")["multiline"] is True
    assert _input(view, "urgency")["initial_option"]["value"] == "high"


def test_owners_may_trigger_on_every_service(slack_scene: Scene) -> None:
    slack_scene.command(OWNER_SLACK, "/trigger")
    options = [
        o["text"]["text"]
        for o in _input(_open_view(slack_scene, OWNER_SLACK), "service")["options"]
    ]
    assert options == ["API", "API Gateway", "Checkout"]


def test_submitting_triggers_an_incident_that_escalates(
    slack_scene: Scene,
    member: User,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    slack_scene.command(MEMBER_SLACK, "/trigger", "Checkout is slow")
    view = _open_view(slack_scene, MEMBER_SLACK)
    shown = _submit(
        slack_scene,
        django_capture_on_commit_callbacks,
        view,
        MEMBER_SLACK,
        service=str(slack_scene.api.pk),
        description="p99 above 2 s since 10:02",
        urgency="low",
    )
    assert shown.closed and not shown.errors
    [incident] = incident_list(user=member)
    assert (incident.service, incident.summary, incident.urgency) == (
        slack_scene.api,
        "Checkout is slow",
        "low",
    )
    assert incident.description == "p99 above 2 s since 10:02"
    assert incident.log.filter(message__contains="Triggered by hand by").exists()
    # The normal pipeline: the policy's first step paged the on-call member.
    assert Notification.objects.filter(incident=incident, user=member).exists()
    # The person is told the number, in the channel they typed /trigger in.
    told = slack_scene.fake.ephemerals(CHANNEL, MEMBER_SLACK)[-1].text
    assert told == (
        f"Incident #{incident.number} triggered: https://ops.example.com/i/{incident.pk}"
    )


def test_bad_input_answers_per_field_errors(
    slack_scene: Scene, eager_tasks: None, django_capture_on_commit_callbacks: Capture
) -> None:
    slack_scene.command(MEMBER_SLACK, "/trigger", "Checkout is slow")
    view = _open_view(slack_scene, MEMBER_SLACK)
    another_team = _option(str(slack_scene.checkout.pk))
    shown = _submit(
        slack_scene,
        django_capture_on_commit_callbacks,
        view,
        MEMBER_SLACK,
        service=another_team,
        summary="   ",
        description="x" * 3001,
        urgency=_option("critical"),
    )
    assert not shown.closed
    assert shown.errors == {
        "service": "Choose one of the services you may trigger incidents on.",
        "summary": "An incident needs a summary.",
        "description": "At most 3000 characters.",
        "urgency": "Choose high or low.",
    }
    another_organization = _option(str(slack_scene.other_api.pk))
    shown = _submit(
        slack_scene,
        django_capture_on_commit_callbacks,
        view,
        MEMBER_SLACK,
        service=another_organization,
        summary="x" * 1025,
    )
    assert shown.errors == {
        "service": "Choose one of the services you may trigger incidents on.",
        "summary": "At most 1024 characters.",
    }
    for forged in ("not-a-number", "-1"):
        shown = _submit(
            slack_scene,
            django_capture_on_commit_callbacks,
            view,
            MEMBER_SLACK,
            service=_option(forged),
        )
        assert set(shown.errors) == {"service"}
    assert not Incident.objects.exists()
    # Corrected, the same modal triggers.
    shown = _submit(
        slack_scene,
        django_capture_on_commit_callbacks,
        view,
        MEMBER_SLACK,
        service=str(slack_scene.gateway.pk),
    )
    assert shown.closed
    assert Incident.objects.get().service == slack_scene.gateway


def test_permission_is_checked_again_on_submit(
    slack_scene: Scene, member: User, eager_tasks: None, django_capture_on_commit_callbacks: Capture
) -> None:
    """The member left the team while the modal was open: the service is refused."""
    slack_scene.command(MEMBER_SLACK, "/trigger", "Checkout is slow")
    view = _open_view(slack_scene, MEMBER_SLACK)
    TeamMembership.objects.filter(user=member).delete()
    shown = _submit(
        slack_scene,
        django_capture_on_commit_callbacks,
        view,
        MEMBER_SLACK,
        service=str(slack_scene.api.pk),
    )
    assert set(shown.errors) == {"service"}
    SlackUserLink.objects.filter(user=member).delete()
    shown = _submit(
        slack_scene,
        django_capture_on_commit_callbacks,
        view,
        MEMBER_SLACK,
        service=str(slack_scene.api.pk),
    )
    assert shown.errors == {"service": texts.NOT_LINKED}
    assert not Incident.objects.exists()


def test_the_task_checks_the_link_again(slack_scene: Scene, member: User) -> None:
    """Unlinked between the submission and the task: nothing opens; the person is told."""
    job = TriggerJob(
        workspace_id=slack_scene.workspace.pk,
        slack_user_id=MEMBER_SLACK,
        view_id="V0QUEUED",
        service_id=slack_scene.api.pk,
        summary="Queued before unlinking",
        description="",
        urgency="high",
        channel_id=CHANNEL,
    )
    SlackUserLink.objects.filter(user=member).delete()
    assert slack_incident_trigger(job) == texts.NOT_LINKED
    assert not Incident.objects.exists()
    assert slack_scene.fake.ephemerals(CHANNEL, MEMBER_SLACK)[-1].text == texts.NOT_LINKED


def test_a_submission_delivered_twice_opens_one_incident(slack_scene: Scene) -> None:
    job = TriggerJob(
        workspace_id=slack_scene.workspace.pk,
        slack_user_id=MEMBER_SLACK,
        view_id="V0TWICE",
        service_id=slack_scene.api.pk,
        summary="Delivered twice",
        description="",
        urgency="high",
        channel_id=CHANNEL,
    )
    first = slack_incident_trigger(TriggerJob(**asdict(job)))
    assert first.startswith("Incident #")
    assert slack_incident_trigger(job) == "done before"
    assert Incident.objects.count() == 1


def test_told_by_dm_when_the_channel_is_closed_to_the_app(
    slack_scene: Scene, eager_tasks: None, django_capture_on_commit_callbacks: Capture
) -> None:
    slack_scene.fake.add_channel(TEAM_ID, "C0QUIET", "quiet", bot_in_channel=False)
    slack_scene.fake.slash_command(TEAM_ID, MEMBER_SLACK, "/trigger", "Quiet", channel_id="C0QUIET")
    view = _open_view(slack_scene, MEMBER_SLACK)
    _submit(
        slack_scene,
        django_capture_on_commit_callbacks,
        view,
        MEMBER_SLACK,
        service=str(slack_scene.api.pk),
    )
    incident = Incident.objects.get()
    dm = slack_scene.fake.messages(slack_scene.fake.dm_channel(TEAM_ID, MEMBER_SLACK))
    assert f"Incident #{incident.number} triggered" in dm[-1].text


def test_stakeholders_and_unlinked_people_get_no_modal(slack_scene: Scene) -> None:
    answer = slack_scene.command(STAKEHOLDER_SLACK, "/trigger", "Let me in")
    assert answer.json == {"response_type": "ephemeral", "text": texts.STAKEHOLDER}
    answer = slack_scene.command(STRANGER_SLACK, "/trigger", "Let me in")
    assert answer.json == {"response_type": "ephemeral", "text": texts.NOT_LINKED}
    assert slack_scene.fake.calls("views.open") == []
    assert slack_scene.fake.views() == []


def test_an_expired_trigger_id_is_reported(slack_scene: Scene) -> None:
    slack_scene.fake.trigger_ttl = -1  # Slack's 3 s passed before views.open
    answer = slack_scene.command(MEMBER_SLACK, "/trigger", "Too slow")
    assert answer.json["response_type"] == "ephemeral"
    assert "could not open" in answer.json["text"]
    assert "expired_trigger_id" in answer.json["text"]
    assert [c.error for c in slack_scene.fake.calls("views.open")] == ["expired_trigger_id"]
    assert "expired_trigger_id" in slack_scene.fake.ephemerals(CHANNEL, MEMBER_SLACK)[-1].text


MESSAGE = "Checkout returns 502 &amp; times out\nSeen by customers since 10:02 (EU only)"


def test_the_message_shortcut_triggers_an_incident_linking_back(
    slack_scene: Scene,
    member: User,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    ts = user_says(slack_scene.fake, CHANNEL, STRANGER_SLACK, MESSAGE)
    answer = slack_scene.fake.message_shortcut(TEAM_ID, MEMBER_SLACK, CHANNEL, ts)
    assert (answer.status, answer.body) == (200, b"")
    view = _open_view(slack_scene, MEMBER_SLACK)
    typed = "Checkout returns 502 & times out\nSeen by customers since 10:02 (EU only)"
    assert _input(view, "summary")["initial_value"] == "Checkout returns 502 & times out"
    assert _input(view, "description")["initial_value"] == typed
    assert json.loads(view.private_metadata)["message_ts"] == ts
    # One Slack call in the request: the permalink is asked for by the task.
    assert slack_scene.fake.calls("chat.getPermalink") == []

    _submit(
        slack_scene,
        django_capture_on_commit_callbacks,
        view,
        MEMBER_SLACK,
        service=str(slack_scene.api.pk),
    )
    incident = Incident.objects.get()
    permalink = f"{slack_scene.fake.url}/archives/{CHANNEL}/p{ts.replace('.', '')}"
    assert incident.summary == "Checkout returns 502 & times out"
    assert incident.description == f"{typed}\n\nFrom Slack: {permalink}"
    assert Notification.objects.filter(incident=incident, user=member).exists()
    told = slack_scene.fake.ephemerals(CHANNEL, MEMBER_SLACK)[-1].text
    assert told.startswith(f"Incident #{incident.number} triggered: ")


def test_the_shortcut_answers_unlinked_people_through_the_response_url(
    slack_scene: Scene, eager_tasks: None, django_capture_on_commit_callbacks: Capture
) -> None:
    ts = user_says(slack_scene.fake, CHANNEL, MEMBER_SLACK, "Something broke")
    with django_capture_on_commit_callbacks(execute=True):
        slack_scene.fake.message_shortcut(TEAM_ID, STRANGER_SLACK, CHANNEL, ts)
    assert slack_scene.fake.views() == []
    [posted] = slack_scene.fake.responses()
    assert (posted.did, posted.body["text"]) == ("ephemeral", texts.NOT_LINKED)
    with django_capture_on_commit_callbacks(execute=True):
        slack_scene.fake.message_shortcut(TEAM_ID, STAKEHOLDER_SLACK, CHANNEL, ts)
    assert slack_scene.fake.responses()[-1].body["text"] == texts.STAKEHOLDER
    assert slack_scene.fake.views() == []


@pytest.mark.parametrize(
    "view",
    [
        {"callback_id": "trigger_incident"},
        {"callback_id": "trigger_incident", "state": {"values": "nonsense"}},
        {
            "callback_id": "trigger_incident",
            "private_metadata": "{not json",
            "state": {
                "values": {
                    "service": {"service": {"selected_option": "7"}},
                    "summary": {"summary": []},
                    "urgency": {"urgency": None},
                }
            },
        },
        {"callback_id": "someone_elses_modal"},
        "not a view",
    ],
)
def test_malformed_submissions_never_fail(slack_scene: Scene, view: Any) -> None:
    """Signed but odd payloads: per-field errors or a plain 200, never a 500."""
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM_ID},
        "user": {"id": MEMBER_SLACK, "team_id": TEAM_ID},
        "view": view,
    }
    answer = slack_scene.fake.send(
        "/integrations/slack/interactions/",
        urlencode({"payload": json.dumps(payload)}).encode(),
        "application/x-www-form-urlencoded",
    )
    assert answer.status == 200
    if isinstance(view, dict) and view["callback_id"] == "trigger_incident":
        assert answer.json["response_action"] == "errors"
        assert {"service", "summary", "urgency"} <= set(answer.json["errors"])
    assert not Incident.objects.exists()


def test_a_forged_submission_signature_is_refused(slack_scene: Scene) -> None:
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM_ID},
        "user": {"id": MEMBER_SLACK},
        "view": {"callback_id": "trigger_incident", "state": {"values": {}}},
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {**slack_scene.fake.signed_headers(body), "X-Slack-Signature": "v0=" + "1" * 64}
    answer = Client().generic(
        "POST",
        "/integrations/slack/interactions/",
        body,
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )
    assert answer.status_code == 403
