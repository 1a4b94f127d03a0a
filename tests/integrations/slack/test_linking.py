"""Linking a Slack user to an OpsDuty person: `/opsduty account link` in the fake Slack, the
one-time link opened signed in, its refusals (used, expired, unknown, another organization),
unlinking in Slack and on Profile, Slack."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from integrations.slack.linking.services import token_hash
from integrations.slack.models import SlackLinkRequest, SlackUserLink
from opsduty.models import Organization, Role, User
from tests import factories
from tests.conftest import session_client_for
from tests.integrations.slack.conftest import (
    MEMBER_SLACK,
    STRANGER_SLACK,
    Scene,
)

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https://ops\.example\.com(/slack/link/[A-Za-z0-9_-]+/)")


def _link_path(scene: Scene, slack_user_id: str) -> str:
    """`/opsduty account link` as the Slack user; the path of the link it answers."""
    answer = scene.command(slack_user_id, "/opsduty", "account link")
    assert answer.status == 200
    assert answer.json["response_type"] == "ephemeral"
    found = LINK.search(answer.json["text"])
    assert found, answer.json["text"]
    return found.group(1)


def _text(response: Any) -> str:
    """The page as a person reads it: tags dropped, entities decoded, spaces collapsed."""
    body = re.sub(r"<[^>]+>", "", bytes(response.content).decode())
    return " ".join(html.unescape(body).split())


def test_account_link_end_to_end(
    slack_scene: Scene,
    member: User,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]],
) -> None:
    """Command, link in the ephemeral answer, opened signed in, confirmed: the Slack user is the
    member, and `/opsduty incidents` answers with the member's incidents."""
    SlackUserLink.objects.filter(user=member).delete()
    incident = factories.make_incident(service=slack_scene.api, summary="Disk full on db-1")
    path = _link_path(slack_scene, MEMBER_SLACK)
    # Only the token's hash is stored.
    token = path.rstrip("/").rsplit("/", 1)[1]
    request = SlackLinkRequest.objects.get()
    assert request.token_hash == token_hash(token) != token
    assert request.slack_name == "member"

    client = session_client_for(member)
    page = client.get(path)
    assert page.status_code == 200
    assert (
        "Link Slack user @member of workspace Acme to your OpsDuty account member@a.example?"
        in _text(page)
    )
    confirmed = client.post(path, follow=True)
    assert confirmed.redirect_chain[-1][0] == "/profile/slack/"
    assert "Linked: Slack user @member of workspace Acme is now member@a.example" in _text(
        confirmed
    )
    link = SlackUserLink.objects.get(user=member)
    assert (link.workspace_id, link.slack_user_id) == (slack_scene.workspace.pk, MEMBER_SLACK)

    with django_capture_on_commit_callbacks(execute=True):
        assert slack_scene.command(MEMBER_SLACK, "/opsduty", "incidents").body == b""
    answer = slack_scene.fake.responses()[-1].body["text"]
    assert f"#{incident.number} Disk full on db-1" in answer


def test_link_needs_sign_in_and_comes_back(slack_scene: Scene, member: User) -> None:
    path = _link_path(slack_scene, STRANGER_SLACK)
    anonymous = Client().get(path)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/?next=/slack/link/")
    assert not SlackUserLink.objects.filter(slack_user_id=STRANGER_SLACK).exists()


def test_a_used_link_is_refused(slack_scene: Scene, member: User) -> None:
    SlackUserLink.objects.filter(user=member).delete()
    path = _link_path(slack_scene, MEMBER_SLACK)
    client = session_client_for(member)
    assert client.post(path).status_code == 302
    again = client.post(path)
    assert again.status_code == 410
    assert "used already" in _text(again)
    assert "/opsduty account link" in _text(again)
    assert client.get(path).status_code == 410


def test_an_expired_link_is_refused(slack_scene: Scene, member: User) -> None:
    SlackUserLink.objects.filter(user=member).delete()
    path = _link_path(slack_scene, MEMBER_SLACK)
    client = session_client_for(member)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        page = client.post(path)
    assert page.status_code == 410
    assert "expired" in _text(page)
    assert "/opsduty account link" in _text(page)
    assert not SlackUserLink.objects.filter(user=member).exists()


def test_an_unknown_link_is_refused(slack_scene: Scene, member: User) -> None:
    client = session_client_for(member)
    for method in (client.get, client.post):
        page = method("/slack/link/not-a-real-token/")
        assert page.status_code == 404
        assert "/opsduty account link" in _text(page)


def test_another_organizations_person_cannot_use_the_link(
    slack_scene: Scene, org_b: Organization
) -> None:
    """A link made in org A's workspace binds nobody of org B."""
    b_member = factories.make_user(organization=org_b, email="bea@b.example", role=Role.MEMBER)
    path = _link_path(slack_scene, STRANGER_SLACK)
    client = session_client_for(b_member)
    for method in (client.get, client.post):
        page = method(path)
        assert page.status_code == 403
        assert "another OpsDuty organization" in _text(page)
    assert not SlackUserLink.objects.filter(slack_user_id=STRANGER_SLACK).exists()
    # Still usable by the right organization: the refusal did not spend it.
    assert SlackLinkRequest.objects.get().used_at is None


def test_linking_a_slack_user_bound_to_someone_else_moves_it(
    slack_scene: Scene, member: User, org_a: Organization
) -> None:
    """Two links asked for at once: a colleague confirms the first, the member the second. The
    Slack user moves to the member (told so on both pages), whose own earlier link it replaces
    (one link per person)."""
    colleague = factories.make_user(
        organization=org_a, email="col@a.example", first_name="Col", last_name="League"
    )
    first, second = _link_path(slack_scene, STRANGER_SLACK), _link_path(slack_scene, STRANGER_SLACK)
    session_client_for(colleague).post(first)
    assert SlackUserLink.objects.get(slack_user_id=STRANGER_SLACK).user == colleague

    client = session_client_for(member)
    page = _text(client.get(second))
    assert "This Slack user is linked to Col League now: confirming moves it to you" in page
    assert (
        "Your account is linked to Slack user @U0MEMBER now: confirming replaces that link" in page
    )
    done = _text(client.post(second, follow=True))
    assert "It was linked to Col League before; that account is no longer linked." in done
    assert SlackUserLink.objects.get(slack_user_id=STRANGER_SLACK).user == member
    assert not SlackUserLink.objects.filter(user=colleague).exists()
    assert not SlackUserLink.objects.filter(slack_user_id=MEMBER_SLACK).exists()


def test_already_linked_says_to_whom_and_how_to_unlink(slack_scene: Scene) -> None:
    answer = slack_scene.command(MEMBER_SLACK, "/opsduty", "account link")
    text = answer.json["text"]
    assert "already" in text and "member@a.example" in text
    assert "/opsduty account unlink" in text
    assert not SlackLinkRequest.objects.exists()


def test_account_unlink_in_slack(slack_scene: Scene, member: User) -> None:
    answer = slack_scene.command(MEMBER_SLACK, "/opsduty", "account unlink")
    assert answer.json["response_type"] == "ephemeral"
    assert "no longer the OpsDuty account member@a.example" in answer.json["text"]
    assert not SlackUserLink.objects.filter(user=member).exists()
    again = slack_scene.command(MEMBER_SLACK, "/opsduty", "account unlink")
    assert "not linked" in again.json["text"]
    # Unlinked, the commands say how to link.
    assert "/opsduty account link" in slack_scene.command(MEMBER_SLACK, "/trigger").json["text"]


def test_profile_shows_the_link_and_unlinks(slack_scene: Scene, member: User) -> None:
    client = session_client_for(member)
    response = client.get("/profile/slack/")
    assert "Linked to Slack user @U0MEMBER (U0MEMBER) of workspace Acme since" in _text(response)
    assert 'action="/profile/slack/unlink/"' in response.content.decode()
    done = _text(client.post("/profile/slack/unlink/", follow=True))
    assert "Unlinked from Slack user U0MEMBER" in done
    assert "Not linked" in done and "/opsduty account link" in done
    assert not SlackUserLink.objects.filter(user=member).exists()
    assert client.get("/profile/slack/unlink/").status_code == 405


def test_profile_without_a_workspace_says_so(member: User) -> None:
    page = _text(session_client_for(member).get("/profile/slack/"))
    assert "Your organization has not connected a Slack workspace" in page
    assert "Unlink" not in page


def test_profile_slack_needs_sign_in(db: None) -> None:
    answer = Client().get("/profile/slack/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")


def test_the_link_command_needs_a_known_workspace(slack_scene: Scene) -> None:
    """A workspace no organization installed gets the "not connected" answer, no link."""
    slack_scene.fake.add_team("T0NOBODY", "Nobody")
    slack_scene.fake.add_channel("T0NOBODY", "C0NOBODY", "general")
    slack_scene.fake.add_user("T0NOBODY", "U0NOBODY", name="nobody")
    answer = slack_scene.fake.slash_command(
        "T0NOBODY", "U0NOBODY", "/opsduty", "account link", channel_id="C0NOBODY"
    )
    assert "not connected" in answer.json["text"]
    assert not SlackLinkRequest.objects.exists()
