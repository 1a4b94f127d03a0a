"""The Events API end to end: the fake Slack signs and posts each event to this Django
(`fake.sender`). Uninstalling the app or revoking its token forgets the workspace; a retried
event is acknowledged and handled once; an unsigned, forged or stale request changes nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client

from integrations.slack.fake import FakeSlack
from integrations.slack.fake.outbound import signed_headers
from integrations.slack.models import SlackChannel, SlackReceipt, SlackWorkspace
from integrations.slack.selectors import organization_has_slack
from opsduty.models import Organization
from tests.integrations.slack.conftest import OTHER_TEAM_ID, TEAM_ID, slack_installed

pytestmark = pytest.mark.django_db

EVENTS = "/integrations/slack/events/"
STALE_SECONDS = 6 * 60  # Slack's window (and the SDK's check) is 5 minutes


@pytest.fixture
def workspace(org_a: Organization, fake_slack: FakeSlack) -> SlackWorkspace:
    workspace = slack_installed(org_a, fake_slack)
    SlackChannel.objects.create(workspace=workspace, channel_id="C0INCIDENTS", name="incidents")
    assert organization_has_slack(org_a.pk)
    return workspace


def _post(body: bytes, headers: dict[str, str]) -> Any:
    return Client().post(EVENTS, body, content_type="application/json", headers=headers)


def _uninstalled_body(event_id: str = "Ev0FORGED") -> bytes:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": TEAM_ID,
            "event_id": event_id,
            "event": {"type": "app_uninstalled"},
        }
    ).encode()


def test_app_uninstalled_forgets_the_workspace(
    workspace: SlackWorkspace, fake_slack: FakeSlack, org_a: Organization
) -> None:
    fake_slack.revoke(TEAM_ID)  # Slack removed the app, then tells us
    answer = fake_slack.event(TEAM_ID, {"type": "app_uninstalled"})
    assert answer.status == 200
    assert not SlackWorkspace.objects.exists() and not SlackChannel.objects.exists()
    assert not organization_has_slack(org_a.pk)


def test_tokens_revoked_naming_our_bot_forgets_the_workspace(
    workspace: SlackWorkspace, fake_slack: FakeSlack
) -> None:
    event = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [workspace.bot_user_id]}}
    assert fake_slack.event(TEAM_ID, event).status == 200
    assert not SlackWorkspace.objects.exists()


def test_tokens_revoked_of_someone_else_keeps_the_workspace(
    workspace: SlackWorkspace, fake_slack: FakeSlack
) -> None:
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U0SOMEONE"], "bot": ["U0OTHERBOT"]}}
    assert fake_slack.event(TEAM_ID, event).status == 200
    assert SlackWorkspace.objects.get() == workspace


def test_other_events_and_other_workspaces_change_nothing(
    workspace: SlackWorkspace, fake_slack: FakeSlack
) -> None:
    assert fake_slack.event(TEAM_ID, {"type": "team_rename", "name": "Acme 2"}).status == 200
    assert fake_slack.event(TEAM_ID, {"type": "tokens_revoked", "tokens": "odd"}).status == 200
    # A workspace no organization has: acknowledged, nothing done.
    assert fake_slack.event(OTHER_TEAM_ID, {"type": "app_uninstalled"}).status == 200
    assert SlackWorkspace.objects.get() == workspace


def test_a_retried_event_is_acknowledged_and_handled_once(
    workspace: SlackWorkspace, fake_slack: FakeSlack, org_a: Organization
) -> None:
    first = fake_slack.event(TEAM_ID, {"type": "app_uninstalled"}, event_id="Ev0UNINSTALL")
    assert first.status == 200 and not SlackWorkspace.objects.exists()
    # Connected again; then Slack retries the first delivery (it saw no answer in time).
    again = slack_installed(org_a, fake_slack)
    retry = fake_slack.event(
        TEAM_ID, {"type": "app_uninstalled"}, event_id="Ev0UNINSTALL", retry_num=1
    )
    assert retry.status == 200
    assert SlackWorkspace.objects.get() == again
    assert SlackReceipt.objects.filter(key="event:Ev0UNINSTALL").count() == 1


def test_a_forged_signature_is_refused(workspace: SlackWorkspace, fake_slack: FakeSlack) -> None:
    signed_for = _uninstalled_body("Ev0SIGNED")
    headers = fake_slack.signed_headers(signed_for)
    response = _post(_uninstalled_body(), headers)  # another body under that signature
    assert response.status_code == 403
    other_secret = signed_headers("not-our-secret", _uninstalled_body())
    assert _post(_uninstalled_body(), other_secret).status_code == 403
    assert _post(_uninstalled_body(), {}).status_code == 403  # not signed at all
    assert SlackWorkspace.objects.get() == workspace
    assert not SlackReceipt.objects.exists()


def test_a_stale_request_is_refused(workspace: SlackWorkspace, fake_slack: FakeSlack) -> None:
    body = _uninstalled_body()
    headers = fake_slack.signed_headers(body, timestamp=int(time.time()) - STALE_SECONDS)
    assert _post(body, headers).status_code == 403
    assert SlackWorkspace.objects.get() == workspace


def test_without_a_signing_secret_nothing_is_accepted(
    workspace: SlackWorkspace, fake_slack: FakeSlack, settings: Any
) -> None:
    settings.OPSDUTY_SLACK_SIGNING_SECRET = ""
    answer = fake_slack.event(TEAM_ID, {"type": "app_uninstalled"})
    assert answer.status == 403
    assert fake_slack.url_verification().status == 403
    assert SlackWorkspace.objects.get() == workspace


def test_url_verification_answers_the_challenge(fake_slack: FakeSlack) -> None:
    answer = fake_slack.url_verification()
    assert answer.status == 200 and isinstance(answer.json, dict) and answer.json["challenge"]
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV"}).encode()
    response = _post(body, fake_slack.signed_headers(body))
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}
