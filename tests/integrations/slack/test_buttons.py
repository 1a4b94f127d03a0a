"""The buttons of an incident message, pressed in the fake Slack (a signed `block_actions`
to our interactions endpoint): they act as the linked person, through the incident services,
with the incident page's rules; refusals answer the presser alone."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.test import Client

from escalations.catalog import services as catalog
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
from incidents.models import Incident, Status
from integrations.slack.fake import FakeSlack
from integrations.slack.models import SlackWorkspace
from opsduty.models import Organization, Service, User
from tests import factories
from tests.integrations.slack.conftest import CHANNEL, slack_linked

Capture = Callable[..., AbstractContextManager[Any]]
ALICE = "U0ALICE"


@pytest.fixture
def posted(workspace: SlackWorkspace, service: Service, committed: Callable[[], Any]) -> Incident:
    with committed():
        return factories.make_incident(service=service, summary="Disk full")


def _press(
    fake: FakeSlack,
    committed: Callable[[], Any],
    action_id: str,
    *,
    user: str = ALICE,
    option: str | None = None,
) -> Any:
    (message,) = [m for m in fake.messages(CHANNEL) if m.thread_ts is None]
    with committed():
        answer = fake.click("T0ACME", user, CHANNEL, message.ts, action_id, selected_option=option)
    assert answer.status == 200
    return answer


def _said(fake: FakeSlack) -> list[str]:
    return [str(post.body.get("text", "")) for post in fake.responses()]


def _status(incident: Incident) -> str:
    incident.refresh_from_db()
    return incident.status


@pytest.mark.django_db
def test_acknowledge_then_resolve_from_slack_as_the_linked_person(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    posted: Incident,
    member: User,
    committed: Callable[[], Any],
) -> None:
    slack_linked(member, fake_slack, workspace, ALICE)
    _press(fake_slack, committed, "acknowledge")
    assert _status(posted) == Status.ACKNOWLEDGED
    assert posted.log.filter(action="acknowledged", actor=member).exists()
    (message,) = fake_slack.messages(CHANNEL)
    assert "Acknowledged by" in json.dumps(message.blocks)
    _press(fake_slack, committed, "resolve")
    assert _status(posted) == Status.RESOLVED
    _press(fake_slack, committed, "unresolve")
    assert _status(posted) == Status.TRIGGERED
    assert _said(fake_slack) == []  # successes show on the message itself


@pytest.mark.django_db
def test_silence_menu_silences_for_the_chosen_duration(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    posted: Incident,
    member: User,
    committed: Callable[[], Any],
) -> None:
    slack_linked(member, fake_slack, workspace, ALICE)
    _press(fake_slack, committed, "silence", option=f"{posted.pk}:120")
    assert _status(posted) == Status.SILENCED
    assert posted.silenced_until is not None and posted.silenced_at is not None
    assert round((posted.silenced_until - posted.silenced_at).total_seconds() / 60) == 120


@pytest.mark.django_db
def test_escalate_runs_the_next_step(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    service: Service,
    member: User,
    owner: User,
    committed: Callable[[], Any],
) -> None:
    policy = policy_create(team=service.team, by=None, name="Checkout")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=30)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[owner])
    catalog.service_set_policy(service=service, policy=policy, by=None)
    with committed():
        incident = factories.make_incident(service=service, summary="Disk full")
    slack_linked(member, fake_slack, workspace, ALICE)
    _press(fake_slack, committed, "escalate")
    assert incident.notifications.filter(user=owner).exists()
    assert incident.log.filter(message__startswith="Escalated by").exists()


@pytest.mark.django_db
def test_an_unlinked_slack_user_is_told_to_link_and_nothing_changes(
    workspace: SlackWorkspace, fake_slack: FakeSlack, posted: Incident, committed: Callable[[], Any]
) -> None:
    fake_slack.add_user("T0ACME", "U0STRANGER", name="stranger", real_name="S", email="s@x.example")
    _press(fake_slack, committed, "acknowledge", user="U0STRANGER")
    assert _status(posted) == Status.TRIGGERED
    (said,) = _said(fake_slack)
    assert "/opsduty account link" in said


@pytest.mark.django_db
def test_a_stakeholder_cannot_act(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    posted: Incident,
    stakeholder: User,
    committed: Callable[[], Any],
) -> None:
    slack_linked(stakeholder, fake_slack, workspace, "U0CAROL")
    _press(fake_slack, committed, "resolve", user="U0CAROL")
    assert _status(posted) == Status.TRIGGERED
    assert _said(fake_slack) == ["Stakeholders follow incidents but cannot act on them."]


@pytest.mark.django_db
def test_a_member_of_another_team_cannot_act_unless_paged(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    posted: Incident,
    org_a: Organization,
    committed: Callable[[], Any],
) -> None:
    other = factories.make_user(organization=org_a, email="other@a.example", role="member")
    slack_linked(other, fake_slack, workspace, "U0OTHER")
    _press(fake_slack, committed, "acknowledge", user="U0OTHER")
    assert _status(posted) == Status.TRIGGERED
    assert _said(fake_slack) == [
        f"You cannot acknowledge #{posted.number}: it belongs to another team."
    ]


@pytest.mark.django_db
def test_another_organizations_incident_can_never_be_touched(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    posted: Incident,
    owner: User,
    org_b: Organization,
    committed: Callable[[], Any],
) -> None:
    """A forged payload naming org B's incident, pressed by org A's owner in org A's
    workspace: nothing is found."""
    slack_linked(owner, fake_slack, workspace, "U0OWNER")
    theirs = factories.make_incident(service=factories.make_service(organization=org_b))
    payload = {
        "type": "block_actions",
        "team": {"id": "T0ACME", "domain": "acme"},
        "user": {"id": "U0OWNER", "team_id": "T0ACME"},
        "response_url": f"{fake_slack.url}/response/forged",
        "actions": [{"action_id": "resolve", "value": str(theirs.pk), "type": "button"}],
    }
    body = ("payload=" + json.dumps(payload)).encode()
    with committed():
        response = Client().generic(
            "POST",
            "/integrations/slack/interactions/",
            body,
            content_type="application/x-www-form-urlencoded",
            headers=fake_slack.signed_headers(body),
        )
    assert response.status_code == 200
    assert _status(theirs) == Status.TRIGGERED
    assert _status(posted) == Status.TRIGGERED


@pytest.mark.django_db
def test_forged_and_stale_presses_are_refused(
    workspace: SlackWorkspace,
    fake_slack: FakeSlack,
    posted: Incident,
    owner: User,
    committed: Callable[[], Any],
) -> None:
    slack_linked(owner, fake_slack, workspace, "U0OWNER")
    payload = {
        "type": "block_actions",
        "team": {"id": "T0ACME"},
        "user": {"id": "U0OWNER", "team_id": "T0ACME"},
        "actions": [{"action_id": "resolve", "value": str(posted.pk), "type": "button"}],
    }
    body = ("payload=" + json.dumps(payload)).encode()
    stale = fake_slack.signed_headers(body, timestamp=int(time.time()) - 6 * 60)
    forged = {**fake_slack.signed_headers(body), "X-Slack-Signature": "v0=" + "0" * 64}
    for headers in (stale, forged, {}):
        with committed():
            response = Client().generic(
                "POST",
                "/integrations/slack/interactions/",
                body,
                content_type="application/x-www-form-urlencoded",
                headers=headers,
            )
        assert response.status_code == 403
    assert _status(posted) == Status.TRIGGERED
