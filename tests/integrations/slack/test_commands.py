"""Slash commands typed in the fake Slack, answered by the app: `/opsduty help`, `/opsduty
incidents`, `/who [service]`; the queued answers come back through the response_url. Inbound
requests without a good signature are refused."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from incidents import services as incident_services
from integrations.slack import texts
from integrations.slack.models import SlackLinkRequest
from opsduty.models import User
from tests import factories
from tests.conftest import api_client_for
from tests.integrations.slack.conftest import (
    CHANNEL,
    MEMBER_SLACK,
    OUTSIDER_SLACK,
    OWNER_SLACK,
    STRANGER_SLACK,
    TEAM_ID,
    Scene,
)

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[Any]]
COMMANDS = "/integrations/slack/commands/"


@pytest.fixture
def later(
    slack_scene: Scene, eager_tasks: None, django_capture_on_commit_callbacks: Capture
) -> Callable[..., str]:
    """Type a command whose answer comes later; that answer (posted to its response_url)."""

    def run(slack_user_id: str, command: str, text: str = "") -> str:
        before = len(slack_scene.fake.responses())
        with django_capture_on_commit_callbacks(execute=True):
            answer = slack_scene.command(slack_user_id, command, text)
        assert (answer.status, answer.body) == (200, b"")  # acknowledged at once, empty
        posted = slack_scene.fake.responses()[before:]
        assert [p.did for p in posted] == ["ephemeral"]
        return str(posted[0].body["text"])

    return run


def test_help_lists_the_commands(slack_scene: Scene) -> None:
    for text in ("", "help"):
        answer = slack_scene.command(MEMBER_SLACK, "/opsduty", text)
        assert answer.json["response_type"] == "ephemeral"
        for command in ("/opsduty account link", "/opsduty incidents", "/who", "/trigger"):
            assert command in answer.json["text"]
        assert answer.json["blocks"][0]["type"] == "section"
    assert "/who" in slack_scene.fake.ephemerals(CHANNEL, MEMBER_SLACK)[-1].text  # shown


def test_an_unknown_subcommand_answers_help(slack_scene: Scene) -> None:
    answer = slack_scene.command(STRANGER_SLACK, "/opsduty", "reboot prod")
    assert answer.json["text"].startswith("Unknown command `/opsduty reboot prod`.")
    assert "/opsduty account link" in answer.json["text"]


def test_incidents_lists_the_open_incidents_of_my_teams(
    slack_scene: Scene, later: Callable[..., str]
) -> None:
    mine = factories.make_incident(service=slack_scene.api, summary="Disk full on db-1")
    newer = factories.make_incident(service=slack_scene.gateway, summary="5xx <spike> & more")
    closed = factories.make_incident(service=slack_scene.api, summary="Old and resolved")
    incident_services.incident_resolve(incident=closed, by=None)
    factories.make_incident(service=slack_scene.checkout, summary="Payments team only")
    factories.make_incident(service=slack_scene.other_api, summary="Org B secret")

    answer = later(MEMBER_SLACK, "/opsduty", "incidents")
    assert answer.startswith("*2 open incidents*:")
    lines = answer.splitlines()[1:]
    assert lines == [
        f"• <https://ops.example.com/i/{newer.pk}|#{newer.number} 5xx &lt;spike&gt; &amp; more> "
        "(triggered, high, API Gateway)",
        f"• <https://ops.example.com/i/{mine.pk}|#{mine.number} Disk full on db-1> "
        "(triggered, high, API)",
    ]
    # Owners see every open incident of the organization, never another organization's.
    owners = later(OWNER_SLACK, "/opsduty", "incidents")
    assert "Payments team only" in owners and "Disk full" in owners
    assert "Org B secret" not in owners and "Old and resolved" not in owners
    outsiders = later(OUTSIDER_SLACK, "/opsduty", "incidents")
    assert "Org B secret" in outsiders and "Disk full" not in outsiders


def test_incidents_shows_the_newest_twenty(slack_scene: Scene, later: Callable[..., str]) -> None:
    for n in range(22):
        factories.make_incident(service=slack_scene.api, summary=f"Alert {n}")
    answer = later(MEMBER_SLACK, "/opsduty", "incidents")
    assert answer.startswith("*22 open incidents* (the newest 20;")
    assert len(answer.splitlines()) == 21
    assert "Alert 21>" in answer.splitlines()[1] and "Alert 1>" not in answer


def test_incidents_when_there_are_none(slack_scene: Scene, later: Callable[..., str]) -> None:
    assert "No open incidents" in later(MEMBER_SLACK, "/opsduty", "incidents")


def test_unlinked_people_are_told_how_to_link(
    slack_scene: Scene, later: Callable[..., str]
) -> None:
    assert later(STRANGER_SLACK, "/opsduty", "incidents") == texts.NOT_LINKED
    assert later(STRANGER_SLACK, "/who", "api") == texts.NOT_LINKED
    assert later(STRANGER_SLACK, "/who") == texts.NOT_LINKED


def _names(users: list[dict[str, Any]]) -> list[str]:
    return [f"{u['first_name']} {u['last_name']}".strip() or u["email"] for u in users]


def test_who_answers_the_same_people_as_the_api(
    slack_scene: Scene, member: User, later: Callable[..., str]
) -> None:
    api = api_client_for(member).get(f"/api/v1/services/{slack_scene.api.pk}/oncall/")
    assert api.status_code == 200
    names = _names(api.json())
    assert names == [member.get_full_name()]
    answer = later(MEMBER_SLACK, "/who", "api")
    assert answer == f"On call now for *API*: {', '.join(names)}"
    assert "<@" not in answer  # names, never mentions
    # Case-insensitive, and the exact name wins over the longer "API Gateway".
    assert later(MEMBER_SLACK, "/who", "Api") == answer


def test_who_without_a_service_lists_my_teams_services(
    slack_scene: Scene, member: User, later: Callable[..., str]
) -> None:
    answer = later(MEMBER_SLACK, "/who")
    assert answer.splitlines() == [
        "*On call now:*",
        f"*API*: {member.get_full_name()}",
        "*API Gateway*: nobody (the service has no escalation policy)",
    ]
    owners = later(OWNER_SLACK, "/who")
    assert "*Checkout*" in owners  # owners: every service of the organization


def test_who_with_a_unique_prefix(slack_scene: Scene, later: Callable[..., str]) -> None:
    assert later(MEMBER_SLACK, "/who", "api g") == (
        "On call now for *API Gateway*: nobody (the service has no escalation policy)"
    )


def test_who_with_an_ambiguous_name_lists_the_candidates(
    slack_scene: Scene, later: Callable[..., str]
) -> None:
    assert later(MEMBER_SLACK, "/who", "ap") == (
        "“ap” matches several services: API, API Gateway. Type more of the name."
    )


def test_who_with_an_unknown_name_lists_my_services(
    slack_scene: Scene, later: Callable[..., str]
) -> None:
    assert later(MEMBER_SLACK, "/who", "billing") == (
        "No service named “billing”. Your services: API, API Gateway."
    )
    # Another team's service is unknown to a member, as in the UI and the API.
    assert later(MEMBER_SLACK, "/who", "checkout").startswith("No service named “checkout”.")


def test_who_never_answers_another_organizations_people(
    slack_scene: Scene, member: User, later: Callable[..., str]
) -> None:
    answer = later(OUTSIDER_SLACK, "/who", "api")
    assert answer == "On call now for *API*: nobody (the service has no escalation policy)"
    assert member.get_full_name() not in later(OUTSIDER_SLACK, "/who")


def _form(**fields: str) -> bytes:
    base = {
        "team_id": TEAM_ID,
        "user_id": STRANGER_SLACK,
        "user_name": "stranger",
        "channel_id": CHANNEL,
        "command": "/opsduty",
        "text": "account link",
        "response_url": "https://hooks.slack.invalid/x",
        "trigger_id": "1.2.3",
    }
    return urlencode({**base, **fields}).encode()


def test_a_forged_or_stale_signature_is_refused(slack_scene: Scene) -> None:
    body = _form()
    forged = {**slack_scene.fake.signed_headers(body), "X-Slack-Signature": "v0=" + "0" * 64}
    stale = slack_scene.fake.signed_headers(body, timestamp=int(time.time()) - 600)
    tampered = slack_scene.fake.signed_headers(_form(text="help"))  # signed another body
    for headers in (forged, stale, tampered, {}):
        answer = Client().generic(
            "POST",
            COMMANDS,
            body,
            content_type="application/x-www-form-urlencoded",
            headers={k: v for k, v in headers.items() if k.lower() != "content-type"},
        )
        assert answer.status_code == 403
    assert not SlackLinkRequest.objects.exists()
    # The same body, signed now, is served.
    good = slack_scene.fake.signed_headers(body)
    answer = Client().generic(
        "POST",
        COMMANDS,
        body,
        content_type="application/x-www-form-urlencoded",
        headers={k: v for k, v in good.items() if k.lower() != "content-type"},
    )
    assert answer.status_code == 200 and SlackLinkRequest.objects.count() == 1
