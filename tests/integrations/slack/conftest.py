"""Fixtures for Slack: the fake Slack (integrations/slack/fake/) with the real `slack_sdk`
pointed at it and its signed requests delivered to this test's Django (`fake.sender`), an
installed workspace, linked people, and Celery run eagerly in the test's transaction (the
queued task runs as it would on a worker, without the broker hop)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from integrations.slack.client import slack_client
from integrations.slack.fake import FakeSlack
from integrations.slack.models import SlackUserLink, SlackWorkspace
from integrations.slack.selectors import slack_presence_forget
from opsduty.models import Organization, User

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "slack-client-secret"
TEAM_ID = "T0ACME"
OTHER_TEAM_ID = "T0OTHER"
CHANNEL = "C0INCIDENTS"
OTHER_CHANNEL = "C0CHECKOUT"
REDIRECT_URI = "https://ops.example.com/settings/slack/oauth/callback/"


def django_sender(
    path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, dict[str, str]]:
    """Deliver the fake's signed request to this test's Django, as Slack would over HTTP."""
    content_type = headers.get("Content-Type", "application/x-www-form-urlencoded")
    extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    response = Client().generic("POST", path, body, content_type=content_type, headers=extra)
    return response.status_code, response.content, dict(response.headers)


@pytest.fixture
def fake_slack(settings: Any) -> Iterator[FakeSlack]:
    """A running fake Slack with workspace TEAM_ID (#incidents, #checkout) and another
    workspace OTHER_TEAM_ID; this server's Slack settings point at it."""
    with FakeSlack(
        signing_secret=SIGNING_SECRET,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        app_url="http://testserver",
    ) as fake:
        settings.OPSDUTY_SLACK_CLIENT_ID = CLIENT_ID
        settings.OPSDUTY_SLACK_CLIENT_SECRET = CLIENT_SECRET
        settings.OPSDUTY_SLACK_SIGNING_SECRET = SIGNING_SECRET
        settings.OPSDUTY_SLACK_API_URL = fake.api_url
        settings.OPSDUTY_SLACK_AUTHORIZE_URL = fake.authorize_url
        settings.OPSDUTY_PUBLIC_URL = "https://ops.example.com"
        fake.add_team(TEAM_ID, "Acme")
        fake.add_channel(TEAM_ID, CHANNEL, "incidents")
        fake.add_channel(TEAM_ID, OTHER_CHANNEL, "checkout")
        fake.add_team(OTHER_TEAM_ID, "Other")
        fake.add_channel(OTHER_TEAM_ID, "C0OTHER", "general")
        fake.sender = django_sender
        slack_presence_forget()
        yield fake
    slack_presence_forget()


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Queued tasks run at once in the caller (with `django_capture_on_commit_callbacks(
    execute=True)` for those queued after a commit)."""
    from opsduty.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False
        app.conf.task_eager_propagates = False


def slack_installed(
    organization: Organization,
    fake: FakeSlack,
    *,
    team_id: str = TEAM_ID,
    installer: str = "U0INSTALL",
    default_channel: str = CHANNEL,
) -> SlackWorkspace:
    """The organization's workspace as the OAuth install leaves it: a real bot token from the
    fake's `oauth.v2.access`, stored encrypted."""
    fake.add_user(team_id, installer, name="installer", real_name="Installer", email="")
    code = fake.authorize_code(
        team_id=team_id, user_id=installer, redirect_uri=REDIRECT_URI, scope="chat:write,commands"
    )
    answer = slack_client().oauth_v2_access(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code, redirect_uri=REDIRECT_URI
    )
    workspace = SlackWorkspace.objects.create(
        organization=organization,
        team_id=team_id,
        team_name=str(answer["team"]["name"]),
        app_id=str(answer["app_id"]),
        bot_user_id=str(answer["bot_user_id"]),
        bot_token=str(answer["access_token"]),
        scopes=str(answer["scope"]),
        default_channel_id=default_channel,
        default_channel_name="incidents",
    )
    slack_presence_forget()
    return workspace


def slack_linked(
    user: User, fake: FakeSlack, workspace: SlackWorkspace, slack_user_id: str
) -> SlackUserLink:
    """`user` is Slack user `slack_user_id` of the workspace (as /opsduty account link does)."""
    fake.add_user(
        workspace.team_id,
        slack_user_id,
        name=user.email.split("@")[0],
        real_name=user.get_full_name(),
        email=user.email,
    )
    return SlackUserLink.objects.create(
        organization_id=user.organization_id,
        user=user,
        workspace=workspace,
        slack_user_id=slack_user_id,
    )


Runner = Callable[..., Any]
