"""Settings -> Slack through the Django test client against the fake Slack (the real
`slack_sdk`): "Add to Slack" with its single-use state, the token stored encrypted and never
shown, one workspace per organization and one organization per workspace, the default
channel, thread replies and service channels, the rate-limit notice, uninstall; owners only.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.slack import channels
from integrations.slack.fake import FakeSlack
from integrations.slack.models import (
    SlackChannel,
    SlackInstallState,
    SlackLinkRequest,
    SlackReceipt,
    SlackWorkspace,
)
from integrations.slack.selectors import organization_has_slack
from integrations.slack.setup.services import BOT_SCOPES
from integrations.slack.setup.tasks import prune
from opsduty.models import Organization, Role, User
from tests import factories
from tests.conftest import session_client_for
from tests.integrations.slack.conftest import (
    CHANNEL,
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_CHANNEL,
    OTHER_TEAM_ID,
    REDIRECT_URI,
    TEAM_ID,
)

pytestmark = pytest.mark.django_db

URL = "/settings/slack/"
MANIFEST = Path(__file__).resolve().parents[3] / "docs" / "slack-app-manifest.yml"


def text(response: Any) -> str:
    return str(response.content.decode())


def install_started(client: Client, fake: FakeSlack) -> dict[str, str]:
    """Press Add to Slack: the query of the consent page Slack is asked to show."""
    response = client.post(f"{URL}install/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(fake.authorize_url + "?")
    return dict(parse_qsl(urlsplit(location).query))


def allowed(
    fake: FakeSlack, query: dict[str, str], team_id: str = TEAM_ID, user_id: str = "U0OWNER"
) -> str:
    """Press Allow on Slack's consent page as `user_id` of `team_id`: the code Slack sends."""
    fake.add_user(team_id, user_id, name="owner", real_name="Owner")
    return fake.authorize_code(
        team_id=team_id, user_id=user_id, redirect_uri=query["redirect_uri"], scope=query["scope"]
    )


def installed(client: Client, fake: FakeSlack, team_id: str = TEAM_ID) -> Any:
    """The whole install as an owner does it; the settings page it ends on."""
    query = install_started(client, fake)
    code = allowed(fake, query, team_id)
    return client.get(f"{URL}oauth/callback/", {"code": code, "state": query["state"]}, follow=True)


def stored_token() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT bot_token FROM slack_slackworkspace")
        (value,) = cursor.fetchone()
    return str(value)


@pytest.fixture
def workspace(owner_client: Client, fake_slack: FakeSlack) -> SlackWorkspace:
    """Org A's workspace, installed on the page."""
    page = installed(owner_client, fake_slack)
    assert page.status_code == 200
    return SlackWorkspace.objects.get()


# --- install ---------------------------------------------------------------------------------


def test_add_to_slack_installs_the_workspace_with_its_token_encrypted_and_never_shown(
    owner_client: Client, owner: User, org_a: Organization, fake_slack: FakeSlack
) -> None:
    assert "Add to Slack" in text(owner_client.get(URL))
    query = install_started(owner_client, fake_slack)
    assert query["client_id"] == CLIENT_ID
    assert query["scope"].split(",") == list(BOT_SCOPES)
    assert query["redirect_uri"] == REDIRECT_URI
    state = SlackInstallState.objects.get()
    # Only the state's hash is kept; it is the owner's, for ten minutes.
    assert state.state_hash == hashlib.sha256(query["state"].encode()).hexdigest()
    assert query["state"] not in state.state_hash and len(query["state"]) >= 40
    assert (state.user, state.organization) == (owner, org_a)
    assert timezone.now() < state.expires_at <= timezone.now() + timedelta(minutes=10)

    code = allowed(fake_slack, query)
    callback = owner_client.get(f"{URL}oauth/callback/", {"code": code, "state": query["state"]})
    assert callback.status_code == 302 and callback["Location"] == URL
    [exchange] = fake_slack.calls("oauth.v2.access")
    assert exchange.params["code"] == code and exchange.params["redirect_uri"] == REDIRECT_URI

    workspace = SlackWorkspace.objects.get()
    token = fake_slack.install_token(TEAM_ID)
    assert token and workspace.bot_token == token  # the model reads it back in clear
    raw = stored_token()
    assert token not in raw and raw.startswith("fernet:")
    assert (workspace.organization, workspace.team_id, workspace.installed_by) == (
        org_a,
        TEAM_ID,
        owner,
    )
    assert workspace.scopes == ",".join(BOT_SCOPES) and workspace.app_id == "A0OPSDUTY"
    assert not workspace.thread_replies  # off by default
    assert organization_has_slack(org_a.pk)  # seen at once by the process that installed

    page = text(owner_client.get(URL))
    assert "Slack workspace Acme connected." in page
    assert "Acme" in page and "A0OPSDUTY" in page and owner.get_full_name() in page
    assert "#incidents" in page and "#checkout" in page  # the channel list, from Slack
    assert token not in page and token[-4:] not in page
    assert "Add to Slack" not in page


def test_the_install_never_logs_the_client_secret_nor_the_token(
    owner_client: Client, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page = installed(owner_client, fake_slack)
    assert page.status_code == 200
    token = fake_slack.install_token(TEAM_ID)
    assert token
    assert CLIENT_SECRET not in caplog.text and token not in caplog.text


def test_a_state_is_single_use(
    owner_client: Client, workspace: SlackWorkspace, fake_slack: FakeSlack
) -> None:
    [spent] = SlackInstallState.objects.all()
    assert spent.used_at is not None
    query = install_started(owner_client, fake_slack)
    first = owner_client.get(
        f"{URL}oauth/callback/", {"code": allowed(fake_slack, query), "state": query["state"]}
    )
    assert first.status_code == 302
    token = SlackWorkspace.objects.get().bot_token
    again = owner_client.get(
        f"{URL}oauth/callback/", {"code": allowed(fake_slack, query), "state": query["state"]}
    )
    assert again.status_code == 400
    assert "This Slack install link is not valid" in text(again)
    assert len(fake_slack.calls("oauth.v2.access")) == 2  # the reused state never got there
    assert SlackWorkspace.objects.get().bot_token == token


def _refused_and_nothing_stored(response: Any, fake: FakeSlack) -> None:
    assert response.status_code == 400
    assert "This Slack install link is not valid" in text(response)
    assert not SlackWorkspace.objects.exists()
    assert not fake.calls("oauth.v2.access")


def test_an_expired_state_is_refused(owner_client: Client, fake_slack: FakeSlack) -> None:
    query = install_started(owner_client, fake_slack)
    SlackInstallState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = owner_client.get(
        f"{URL}oauth/callback/", {"code": allowed(fake_slack, query), "state": query["state"]}
    )
    _refused_and_nothing_stored(response, fake_slack)


def test_a_made_up_or_missing_state_is_refused(owner_client: Client, fake_slack: FakeSlack) -> None:
    install_started(owner_client, fake_slack)
    code = allowed(fake_slack, {"redirect_uri": REDIRECT_URI, "scope": "commands"})
    for params in ({"code": code, "state": "made-up"}, {"code": code}, {"state": "x" * 5000}):
        _refused_and_nothing_stored(owner_client.get(f"{URL}oauth/callback/", params), fake_slack)


def test_another_owners_state_is_refused_and_stays_theirs(
    owner_client: Client, org_a: Organization, fake_slack: FakeSlack
) -> None:
    colleague = factories.make_user(organization=org_a, email="o2@a.example", role=Role.OWNER)
    theirs = session_client_for(colleague)
    query = install_started(theirs, fake_slack)
    code = allowed(fake_slack, query)
    response = owner_client.get(f"{URL}oauth/callback/", {"code": code, "state": query["state"]})
    _refused_and_nothing_stored(response, fake_slack)
    # Its owner can still finish with it.
    finished = theirs.get(f"{URL}oauth/callback/", {"code": code, "state": query["state"]})
    assert finished.status_code == 302
    assert SlackWorkspace.objects.get().installed_by == colleague


def test_another_organizations_state_is_refused(
    owner_client: Client, outsider_client: Client, fake_slack: FakeSlack
) -> None:
    query = install_started(outsider_client, fake_slack)
    response = owner_client.get(
        f"{URL}oauth/callback/", {"code": allowed(fake_slack, query), "state": query["state"]}
    )
    _refused_and_nothing_stored(response, fake_slack)


def test_a_workspace_of_another_organization_cannot_be_installed(
    owner_client: Client,
    outsider_client: Client,
    workspace: SlackWorkspace,
    org_a: Organization,
    fake_slack: FakeSlack,
) -> None:
    stored = stored_token()
    page = installed(outsider_client, fake_slack, TEAM_ID)
    assert "This Slack workspace is connected to another OpsDuty organization." in text(page)
    assert "Add to Slack" in text(page)  # B has none
    [kept] = SlackWorkspace.objects.all()
    assert kept.organization == org_a and stored_token() == stored
    assert "Acme" not in text(outsider_client.get(URL))


def test_one_workspace_per_organization(
    owner_client: Client, workspace: SlackWorkspace, fake_slack: FakeSlack
) -> None:
    page = installed(owner_client, fake_slack, OTHER_TEAM_ID)
    assert "already connected to the Slack workspace Acme" in text(page)
    assert "Uninstall it first" in text(page)
    assert list(SlackWorkspace.objects.values_list("team_id", flat=True)) == [TEAM_ID]


def test_reinstalling_the_same_workspace_takes_the_new_token_and_keeps_the_settings(
    owner_client: Client, workspace: SlackWorkspace, fake_slack: FakeSlack
) -> None:
    owner_client.post(f"{URL}channels/", {"default_channel": OTHER_CHANNEL, "thread_replies": "on"})
    old = workspace.bot_token
    SlackWorkspace.objects.update(last_error="invalid_auth", last_error_at=timezone.now())
    page = installed(owner_client, fake_slack, TEAM_ID)
    assert "Slack workspace Acme connected." in text(page)
    again = SlackWorkspace.objects.get()
    assert again.pk == workspace.pk and again.bot_token == fake_slack.install_token(TEAM_ID)
    assert again.bot_token != old
    assert (again.default_channel_id, again.thread_replies) == (OTHER_CHANNEL, True)
    assert again.last_error == ""


def test_cancelling_on_slack_says_so_and_stores_nothing(
    owner_client: Client, fake_slack: FakeSlack
) -> None:
    query = install_started(owner_client, fake_slack)
    page = owner_client.get(
        f"{URL}oauth/callback/", {"error": "access_denied", "state": query["state"]}, follow=True
    )
    assert page.status_code == 200 and "Slack install cancelled." in text(page)
    assert not SlackWorkspace.objects.exists() and not fake_slack.calls("oauth.v2.access")


def test_slack_refusing_the_code_shows_its_answer(
    owner_client: Client, fake_slack: FakeSlack
) -> None:
    query = install_started(owner_client, fake_slack)
    page = owner_client.get(
        f"{URL}oauth/callback/", {"code": "not-a-code", "state": query["state"]}, follow=True
    )
    assert "Slack refused the install: Slack answered invalid_code." in text(page)
    assert not SlackWorkspace.objects.exists()


def test_not_configured_explains_the_three_settings(owner_client: Client, settings: Any) -> None:
    settings.OPSDUTY_SLACK_CLIENT_ID = ""
    page = text(owner_client.get(URL))
    assert "Slack is not configured on this server" in page
    for name in (
        "OPSDUTY_SLACK_CLIENT_ID",
        "OPSDUTY_SLACK_CLIENT_SECRET",
        "OPSDUTY_SLACK_SIGNING_SECRET",
        "docs/slack.md",
        "docs/slack-app-manifest.yml",
    ):
        assert name in page
    assert "Add to Slack" not in page
    assert owner_client.post(f"{URL}install/").status_code == 302
    assert not SlackInstallState.objects.exists()


def test_members_and_stakeholders_cannot_reach_the_pages_nor_see_the_link(
    member_client: Client,
    stakeholder_client: Client,
    owner_client: Client,
    workspace: SlackWorkspace,
    org_a: Organization,
) -> None:
    assert f'href="{URL}"' in text(owner_client.get("/members/"))
    service = factories.make_service(team=factories.make_team(organization=org_a))
    for client in (member_client, stakeholder_client):
        assert f'href="{URL}"' not in text(client.get("/members/"))
        for path in ("", "oauth/callback/", "uninstall/"):
            assert client.get(f"{URL}{path}").status_code == 403
        for path in ("install/", "channels/", "channels/refresh/", "uninstall/"):
            assert client.post(f"{URL}{path}", {"confirm": "on"}).status_code == 403
        channel = client.post(f"{URL}services/{service.pk}/channel/", {})
        assert channel.status_code == 403
    assert not SlackInstallState.objects.exclude(used_at__isnull=False).exists()
    assert SlackWorkspace.objects.exists()


# --- channels --------------------------------------------------------------------------------


def test_the_default_channel_and_thread_replies_are_saved_and_shown(
    owner_client: Client, workspace: SlackWorkspace
) -> None:
    saved = owner_client.post(
        f"{URL}channels/", {"default_channel": OTHER_CHANNEL, "thread_replies": "on"}, follow=True
    )
    assert "Slack settings saved." in text(saved)
    workspace.refresh_from_db()
    assert (workspace.default_channel_id, workspace.default_channel_name) == (
        OTHER_CHANNEL,
        "checkout",
    )
    assert workspace.thread_replies
    page = text(owner_client.get(URL))
    assert f'<option value="{OTHER_CHANNEL}" selected>#checkout</option>' in page
    assert 'name="thread_replies" id="id_thread_replies" checked' in page

    owner_client.post(f"{URL}channels/", {"default_channel": ""})
    workspace.refresh_from_db()
    assert (workspace.default_channel_id, workspace.thread_replies) == ("", False)


def test_a_channel_not_in_the_list_is_refused(
    owner_client: Client, workspace: SlackWorkspace, org_a: Organization
) -> None:
    refused = owner_client.post(f"{URL}channels/", {"default_channel": "C0NOPE"})
    assert refused.status_code == 422
    assert "Select a valid choice." in text(refused)
    workspace.refresh_from_db()
    assert workspace.default_channel_id == ""
    service = factories.make_service(team=factories.make_team(organization=org_a))
    prefix = f"service-{service.pk}"
    refused = owner_client.post(
        f"{URL}services/{service.pk}/channel/", {f"{prefix}-channel": "C0NOPE"}
    )
    assert refused.status_code == 422 and "Select a valid choice." in text(refused)
    service.refresh_from_db()
    assert service.slack_channel == ""


def test_a_service_channel_is_saved_as_its_name_and_used_for_incidents(
    owner_client: Client, workspace: SlackWorkspace, org_a: Organization
) -> None:
    service = factories.make_service(team=factories.make_team(organization=org_a))
    other = factories.make_service(team=service.team, name="Search")
    field = f"service-{service.pk}-channel"
    saved = owner_client.post(
        f"{URL}services/{service.pk}/channel/", {field: OTHER_CHANNEL}, follow=True
    )
    assert f"{service.name}: incidents are posted to #checkout." in text(saved)
    service.refresh_from_db()
    other.refresh_from_db()
    assert (service.slack_channel, other.slack_channel) == ("#checkout", "")
    incident = factories.make_incident(service=service)
    assert channels.channel_for_incident(workspace, incident) == OTHER_CHANNEL
    page = text(owner_client.get(URL))
    assert f'name="{field}" id="id_{field}"' in page
    assert f'<option value="{OTHER_CHANNEL}" selected>#checkout</option>' in page

    owner_client.post(f"{URL}services/{service.pk}/channel/", {field: ""})
    service.refresh_from_db()
    assert service.slack_channel == ""


def test_a_channel_name_too_long_for_the_service_is_saved_as_its_id(
    owner_client: Client, workspace: SlackWorkspace, org_a: Organization, fake_slack: FakeSlack
) -> None:
    fake_slack.add_channel(TEAM_ID, "C0LONGNAME", "x" * 80)  # Slack's longest name
    owner_client.post(f"{URL}channels/refresh/")
    service = factories.make_service(team=factories.make_team(organization=org_a))
    field = f"service-{service.pk}-channel"
    owner_client.post(f"{URL}services/{service.pk}/channel/", {field: "C0LONGNAME"})
    service.refresh_from_db()
    assert service.slack_channel == "C0LONGNAME"
    assert '<option value="C0LONGNAME" selected>' in text(owner_client.get(URL))


def test_a_service_naming_an_unknown_channel_says_so(
    owner_client: Client, workspace: SlackWorkspace, org_a: Organization
) -> None:
    team = factories.make_team(organization=org_a)
    factories.make_service(team=team, name="Gone", slack_channel="#deleted-channel")
    factories.make_service(team=team, name="By id", slack_channel=CHANNEL)
    page = text(owner_client.get(URL))
    assert "The service names #deleted-channel, which is not in the channel list" in page
    assert f'<option value="{CHANNEL}" selected>#incidents</option>' in page  # "By id"


def test_another_organizations_service_answers_404(
    owner_client: Client, workspace: SlackWorkspace, org_b: Organization
) -> None:
    theirs = factories.make_service(team=factories.make_team(organization=org_b))
    field = f"service-{theirs.pk}-channel"
    response = owner_client.post(f"{URL}services/{theirs.pk}/channel/", {field: CHANNEL})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.slack_channel == ""


def test_the_channel_list_is_read_from_slack_at_most_once_a_minute_unless_refreshed(
    owner_client: Client, workspace: SlackWorkspace, fake_slack: FakeSlack
) -> None:
    assert len(fake_slack.calls("conversations.list")) == 1  # the install listed them
    fake_slack.add_channel(TEAM_ID, "C0NEW", "new-channel")
    assert "#new-channel" not in text(owner_client.get(URL))  # the page after the install
    cache.clear()  # a minute later
    assert "#new-channel" in text(owner_client.get(URL))
    fake_slack.add_channel(TEAM_ID, "C0NEWER", "newer-channel")
    assert "#newer-channel" not in text(owner_client.get(URL))
    assert len(fake_slack.calls("conversations.list")) == 2  # noqa: PLR2004
    refreshed = owner_client.post(f"{URL}channels/refresh/", follow=True)
    assert "Channel list refreshed." in text(refreshed) and "#newer-channel" in text(refreshed)
    assert SlackChannel.objects.filter(workspace=workspace, channel_id="C0NEWER").exists()


def test_channels_slack_would_not_list_at_install_are_listed_by_the_next_page(
    owner_client: Client, fake_slack: FakeSlack
) -> None:
    fake_slack.rate_limit("conversations.list", times=1, retry_after=30)
    page = text(installed(owner_client, fake_slack))
    assert "Slack workspace Acme connected." in page and "#incidents" in page
    assert [call.status for call in fake_slack.calls("conversations.list")] == [429, 200]


def test_slack_refusing_the_channel_list_is_shown(
    owner_client: Client, workspace: SlackWorkspace, fake_slack: FakeSlack
) -> None:
    fake_slack.rate_limit("conversations.list", times=2, retry_after=30)
    cache.clear()  # a minute after the install
    page = text(owner_client.get(URL))
    assert "The channel list could not be refreshed from Slack: Slack rate limit" in page
    assert "#incidents" in page  # the list as it was
    refused = owner_client.post(f"{URL}channels/refresh/", follow=True)
    assert "The channel list was not refreshed: Slack rate limit (retry after 30 s)." in text(
        refused
    )


def test_a_rate_limited_workspace_says_until_when(
    owner_client: Client, workspace: SlackWorkspace
) -> None:
    until = timezone.now() + timedelta(minutes=3)
    SlackWorkspace.objects.update(rate_limited_until=until)
    page = text(owner_client.get(URL))
    assert (
        f"Slack is rate limiting this workspace until {until:%H:%M:%S} UTC: updates are queued "
        "and sent then" in page
    )
    SlackWorkspace.objects.update(rate_limited_until=timezone.now() - timedelta(seconds=1))
    assert "Slack is rate limiting" not in text(owner_client.get(URL))


def test_the_last_slack_error_is_shown(owner_client: Client, workspace: SlackWorkspace) -> None:
    SlackWorkspace.objects.update(
        last_error="the Slack channel is archived", last_error_at=timezone.now()
    )
    assert "the Slack channel is archived" in text(owner_client.get(URL))


# --- uninstall -------------------------------------------------------------------------------


def test_uninstall_removes_the_app_from_slack_and_forgets_the_workspace(
    owner_client: Client, workspace: SlackWorkspace, fake_slack: FakeSlack, org_a: Organization
) -> None:
    token = workspace.bot_token
    confirm = owner_client.get(f"{URL}uninstall/")
    assert "Uninstall OpsDuty from the Slack workspace Acme?" in text(confirm)
    unconfirmed = owner_client.post(f"{URL}uninstall/", {})
    assert unconfirmed.status_code == 422 and "Tick the box to confirm." in text(unconfirmed)
    assert SlackWorkspace.objects.exists() and not fake_slack.calls("apps.uninstall")

    done = owner_client.post(f"{URL}uninstall/", {"confirm": "on"}, follow=True)
    assert "Slack workspace Acme disconnected." in text(done) and "Add to Slack" in text(done)
    [call] = fake_slack.calls("apps.uninstall")
    assert call.token == token and call.params["client_id"] == CLIENT_ID
    assert fake_slack.install_token(TEAM_ID) is None
    assert not SlackWorkspace.objects.exists() and not SlackChannel.objects.exists()
    assert not organization_has_slack(org_a.pk)


def test_uninstall_with_a_dead_token_still_forgets_the_workspace(
    owner_client: Client, workspace: SlackWorkspace, fake_slack: FakeSlack
) -> None:
    fake_slack.revoke(TEAM_ID)
    done = owner_client.post(f"{URL}uninstall/", {"confirm": "on"})
    assert done.status_code == 302
    [call] = fake_slack.calls("apps.uninstall")
    assert call.error == "invalid_auth"
    assert not SlackWorkspace.objects.exists()


# --- housekeeping and the manifest -----------------------------------------------------------


def test_prune_deletes_spent_one_time_rows_and_old_receipts(
    owner: User, org_a: Organization, workspace: SlackWorkspace
) -> None:
    now = timezone.now()
    SlackInstallState.objects.all().delete()
    fresh = SlackInstallState.objects.create(
        organization=org_a, user=owner, state_hash="a" * 64, expires_at=now + timedelta(minutes=5)
    )
    SlackInstallState.objects.create(
        organization=org_a, user=owner, state_hash="b" * 64, expires_at=now - timedelta(minutes=1)
    )
    SlackLinkRequest.objects.create(
        organization=org_a,
        workspace=workspace,
        slack_user_id="U0X",
        token_hash="c" * 64,
        expires_at=now - timedelta(minutes=1),
    )
    SlackReceipt.objects.create(key="event:old", created_at=now - timedelta(days=2))
    SlackReceipt.objects.create(key="event:new")
    assert prune() == 3
    assert list(SlackInstallState.objects.all()) == [fresh]
    assert not SlackLinkRequest.objects.exists()
    assert list(SlackReceipt.objects.values_list("key", flat=True)) == ["event:new"]


def test_the_manifest_matches_the_scopes_and_urls_of_this_server() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    base = "https://opsduty.example.com"
    assert manifest["_metadata"]["major_version"] == 1
    assert manifest["display_information"]["name"] == "OpsDuty"
    assert manifest["features"]["bot_user"]["display_name"] == "OpsDuty"
    assert manifest["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    assert manifest["oauth_config"]["redirect_urls"] == [base + reverse("slack_oauth_callback")]
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == {"/opsduty", "/who", "/trigger"}
    for command in commands.values():
        assert command["url"] == base + reverse("slack_commands")
        assert command["should_escape"] is False
    assert commands["/opsduty"]["usage_hint"] == "help | account link | account unlink | incidents"
    assert commands["/who"]["usage_hint"] == "[service]"
    [shortcut] = manifest["features"]["shortcuts"]
    assert shortcut["type"] == "message"
    assert shortcut["callback_id"] == "create_incident_from_message"
    assert shortcut["name"] == "Create incident from message"
    app_settings = manifest["settings"]
    assert app_settings["interactivity"]["is_enabled"] is True
    assert app_settings["interactivity"]["request_url"] == base + reverse("slack_interactions")
    events = app_settings["event_subscriptions"]
    assert events["request_url"] == base + reverse("slack_events")
    assert events["bot_events"] == ["app_uninstalled", "tokens_revoked"]
    assert app_settings["org_deploy_enabled"] is False
    assert app_settings["socket_mode_enabled"] is False
    assert app_settings["token_rotation_enabled"] is False
