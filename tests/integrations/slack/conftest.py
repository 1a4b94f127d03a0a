"""Fixtures for Slack: the fake Slack (integrations/slack/fake/) with the real `slack_sdk`
pointed at it and its signed requests delivered to this test's Django (`fake.sender`), an
installed workspace, linked people, and Celery run eagerly in the test's transaction (the
queued task runs as it would on a worker, without the broker hop)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from escalations.catalog import services as catalog
from escalations.catalog.services import service_set_policy
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
from integrations.slack.client import slack_client
from integrations.slack.fake import AppAnswer, FakeSlack, Message
from integrations.slack.models import SlackUserLink, SlackWorkspace
from integrations.slack.selectors import slack_presence_forget
from opsduty.models import Organization, Service, Team, User
from tests import factories

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


Capture = Callable[..., AbstractContextManager[Any]]


# ---------------------------------------------------------------- commands, modals, linking

MEMBER_SLACK = "U0MEMBER"
OWNER_SLACK = "U0OWNER"
STAKEHOLDER_SLACK = "U0STAKE"
STRANGER_SLACK = "U0STRANGER"  # in the workspace, linked to nobody
OUTSIDER_SLACK = "U0OUTSIDER"  # in the other workspace (org B)


def user_says(fake: FakeSlack, channel_id: str, user_id: str, text: str) -> str:
    """A message that a person posts in a channel of the fake Slack (as typed); its ts."""
    with fake.state.lock:
        message = Message(channel_id, fake.state.next_ts(), text, [], None, user_id)
        return fake.state.post(message).ts


@dataclass
class Scene:
    """Org A's workspace with its people linked (but the stranger), team Platform (owner,
    member, stakeholder) with services "API" (paging the member) and "API Gateway", team
    Payments (nobody) with "Checkout", and org B with its own workspace and "API"."""

    fake: FakeSlack
    workspace: SlackWorkspace
    other_workspace: SlackWorkspace
    platform: Team
    api: Service
    gateway: Service
    checkout: Service
    other_api: Service

    def command(self, user_id: str, command: str, text: str = "", **kwargs: Any) -> AppAnswer:
        team = OTHER_TEAM_ID if user_id == OUTSIDER_SLACK else TEAM_ID
        channel = "C0OTHER" if team == OTHER_TEAM_ID else CHANNEL
        return self.fake.slash_command(team, user_id, command, text, channel_id=channel, **kwargs)


@pytest.fixture
def slack_scene(
    fake_slack: FakeSlack,
    org_a: Organization,
    org_b: Organization,
    owner: User,
    member: User,
    stakeholder: User,
    outsider: User,
) -> Scene:
    workspace = slack_installed(org_a, fake_slack)
    other_workspace = slack_installed(org_b, fake_slack, team_id=OTHER_TEAM_ID, installer="U0B")
    platform = factories.make_team(organization=org_a, name="Platform")
    for user in (owner, member, stakeholder):
        factories.add_member(platform, user)
    api = factories.make_service(team=platform, name="API")
    policy = policy_create(team=platform, by=None, name="Platform default")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    service_set_policy(service=api, policy=policy, by=None)
    payments = factories.make_team(organization=org_a, name="Payments")
    other_team = factories.make_team(organization=org_b, name="B team")
    scene = Scene(
        fake=fake_slack,
        workspace=workspace,
        other_workspace=other_workspace,
        platform=platform,
        api=api,
        gateway=factories.make_service(team=platform, name="API Gateway"),
        checkout=factories.make_service(team=payments, name="Checkout"),
        other_api=factories.make_service(team=other_team, name="API"),
    )
    slack_linked(member, fake_slack, workspace, MEMBER_SLACK)
    slack_linked(owner, fake_slack, workspace, OWNER_SLACK)
    slack_linked(stakeholder, fake_slack, workspace, STAKEHOLDER_SLACK)
    slack_linked(outsider, fake_slack, other_workspace, OUTSIDER_SLACK)
    fake_slack.add_user(TEAM_ID, STRANGER_SLACK, name="stranger", real_name="Stranger")
    return scene


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Capture) -> Callable[[], Any]:
    """A block after which the commit's callbacks (the queued syncs) run, as after a commit."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def service(org_a: Organization, member: User) -> Service:
    """ "Checkout API" of team Payments, whose member is `member`."""
    team = factories.make_team(organization=org_a, name="Payments")
    factories.add_member(team, member)
    return catalog.service_create(team=team, by=None, name="Checkout API")


@pytest.fixture
def workspace(
    fake_slack: FakeSlack, org_a: Organization, eager_tasks: None, settings: Any
) -> SlackWorkspace:
    """Org A's workspace, default channel #incidents, tasks eager; writes are not paced
    (the pace has its own tests)."""
    settings.OPSDUTY_SLACK_CHANNEL_BURST = 10_000
    return slack_installed(org_a, fake_slack)
