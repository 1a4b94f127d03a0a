"""Webhook pages and the raw event browser: who manages, who sees which URLs, refusals (422,
nothing changed), filters, pagination, the detail of an event and its replay, tenancy."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from incidents.ingest import drain as services
from incidents.models import Incident
from opsduty.models import Organization, Role, Service, Team, User
from signals.models import RawEvent, RawEventStatus, Webhook
from tests import factories
from tests.conftest import session_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def platform(team: Team, member: User, stakeholder: User) -> Team:
    factories.add_member(team, member)
    factories.add_member(team, stakeholder)
    return team


@pytest.fixture
def web_service(org_a: Organization) -> Service:
    """A service of a team the member does not belong to."""
    return factories.make_service(team=factories.make_team(organization=org_a, name="Web"))


@pytest.fixture
def hook(org_a: Organization) -> Webhook:
    return factories.make_webhook(organization=org_a, name="Alertmanager")


def _form(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Checkly",
        "enabled": "on",
        "source": "builtin:checkly",
        "rate_limit_per_minute": "300",
    }
    return {**data, **overrides}


def _send_url(webhook: Webhook, service: Service) -> str:
    return (
        f"http://testserver/integrations/webhooks/enque/event/{webhook.key}/{service.routing_key}"
    )


# --- list, create, edit, toggle, delete (owners) ----------------------------------------------


def test_list_shows_settings_and_events_of_the_last_24_hours(
    hook: Webhook, org_a: Organization, org_b: Organization, member_client: Client
) -> None:
    factories.make_webhook(
        organization=org_a, name="Sentry", builtin_template="sentry", enabled=False
    )
    factories.make_webhook(organization=org_b, name="Bravo hook")
    for _ in range(2):
        factories.make_raw_event(organization=org_a, webhook=hook)
    factories.make_raw_event(
        organization=org_a, webhook=hook, received_at=timezone.now() - timedelta(days=2)
    )
    response = member_client.get("/webhooks/")
    content = response.content.decode()
    assert response.status_code == 200
    assert "Alertmanager" in content and "Sentry" in content and "Bravo hook" not in content
    assert '<span class="badge status-resolved">Enabled</span>' in content
    assert '<span class="badge">Disabled</span>' in content
    assert "600 / min" in content
    assert '<td data-label="Events in the last 24 h">2</td>' in content
    assert "/webhooks/new/" not in content  # members read only


def test_owner_creates_a_webhook(owner_client: Client, org_a: Organization) -> None:
    assert owner_client.get("/webhooks/new/").status_code == 200
    response = owner_client.post("/webhooks/new/", _form())
    webhook = Webhook.objects.get(name="Checkly")
    assert response.status_code == 302
    assert response["Location"] == f"/webhooks/{webhook.pk}/"
    assert (webhook.organization_id, webhook.enabled) == (org_a.pk, True)
    assert (webhook.builtin_template, webhook.rate_limit_per_minute) == ("checkly", 300)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "Alertmanager"}, "A webhook with this name already exists."),
        ({"rate_limit_per_minute": "0"}, "from 1 to 1,000,000"),
        ({"rate_limit_per_minute": "lots"}, "Enter a whole number."),
        ({"source": "builtin:nagios"}, "Select a valid choice."),
        ({"source": "checkly"}, "Select a valid choice."),
        ({"name": ""}, "This field is required."),
    ],
)
def test_refused_create_answers_422_and_writes_nothing(
    hook: Webhook, owner_client: Client, overrides: dict[str, str], message: str
) -> None:
    response = owner_client.post("/webhooks/new/", _form(**overrides))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert list(Webhook.objects.values_list("name", flat=True)) == ["Alertmanager"]


def test_owner_edits_a_webhook_and_keeps_its_key(hook: Webhook, owner_client: Client) -> None:
    key = hook.key
    page = owner_client.get(f"/webhooks/{hook.pk}/edit/").content.decode()
    assert 'value="Alertmanager"' in page and 'value="600"' in page
    response = owner_client.post(
        f"/webhooks/{hook.pk}/edit/", _form(name="Prometheus", enabled="", rate_limit_per_minute=5)
    )
    assert response.status_code == 302
    hook.refresh_from_db()
    assert (hook.name, hook.enabled, hook.rate_limit_per_minute, hook.key) == (
        "Prometheus",
        False,
        5,
        key,
    )


def test_refused_edit_answers_422_and_changes_nothing(
    hook: Webhook, org_a: Organization, owner_client: Client
) -> None:
    factories.make_webhook(organization=org_a, name="Sentry")
    for overrides in ({"name": "Sentry"}, {"rate_limit_per_minute": "0"}):
        response = owner_client.post(f"/webhooks/{hook.pk}/edit/", _form(**overrides))
        assert response.status_code == 422
    hook.refresh_from_db()
    assert (hook.name, hook.rate_limit_per_minute, hook.builtin_template) == (
        "Alertmanager",
        600,
        "generic",
    )


def test_owner_disables_and_enables(hook: Webhook, owner_client: Client) -> None:
    page = owner_client.get(f"/webhooks/{hook.pk}/").content.decode()
    assert 'name="enabled" value="false"' in page
    response = owner_client.post(f"/webhooks/{hook.pk}/enabled/", {"enabled": "false"})
    assert response.status_code == 302
    assert Webhook.objects.get(pk=hook.pk).enabled is False
    page = owner_client.get(f"/webhooks/{hook.pk}/").content.decode()
    assert 'name="enabled" value="true"' in page and "stored, not processed" in page
    owner_client.post(f"/webhooks/{hook.pk}/enabled/", {"enabled": "true"})
    assert Webhook.objects.get(pk=hook.pk).enabled is True


def test_toggle_without_a_state_is_refused(hook: Webhook, owner_client: Client) -> None:
    response = owner_client.post(f"/webhooks/{hook.pk}/enabled/", {"enabled": "maybe"})
    assert response.status_code == 422
    assert "enable or disable" in response.content.decode()
    assert Webhook.objects.get(pk=hook.pk).enabled is True


def test_owner_deletes_after_confirming_and_raw_events_stay(
    hook: Webhook, org_a: Organization, owner_client: Client
) -> None:
    raw = factories.make_raw_event(organization=org_a, webhook=hook)
    page = owner_client.get(f"/webhooks/{hook.pk}/delete/").content.decode()
    assert "Delete webhook “Alertmanager”?" in page and "1 raw event" in page
    assert Webhook.objects.filter(pk=hook.pk).exists()  # GET only asks
    response = owner_client.post(f"/webhooks/{hook.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/webhooks/"
    assert not Webhook.objects.filter(pk=hook.pk).exists()
    raw.refresh_from_db()
    assert raw.webhook_id is None
    assert "deleted" in owner_client.get("/raw-events/").content.decode()


@pytest.mark.parametrize("who", ["member_client", "stakeholder_client"])
def test_members_and_stakeholders_cannot_manage(
    request: pytest.FixtureRequest, who: str, hook: Webhook
) -> None:
    client: Client = request.getfixturevalue(who)
    page = client.get(f"/webhooks/{hook.pk}/").content.decode()
    assert "Read-only" in page and f"/webhooks/{hook.pk}/edit/" not in page
    assert client.get("/webhooks/new/").status_code == 403
    assert client.post("/webhooks/new/", _form()).status_code == 403
    assert client.get(f"/webhooks/{hook.pk}/edit/").status_code == 403
    assert client.post(f"/webhooks/{hook.pk}/edit/", _form()).status_code == 403
    assert client.post(f"/webhooks/{hook.pk}/enabled/", {"enabled": "false"}).status_code == 403
    assert client.get(f"/webhooks/{hook.pk}/delete/").status_code == 403
    assert client.post(f"/webhooks/{hook.pk}/delete/").status_code == 403
    hook.refresh_from_db()
    assert (hook.name, hook.enabled) == ("Alertmanager", True)
    assert list(Webhook.objects.values_list("name", flat=True)) == ["Alertmanager"]


# --- detail: where to send events ------------------------------------------------------------


def test_owner_sees_one_url_per_service_with_curl(
    hook: Webhook, service: Service, web_service: Service, owner_client: Client
) -> None:
    content = owner_client.get(f"/webhooks/{hook.pk}/").content.decode()
    values = [html.unescape(v) for v in re.findall(r'value="([^"]*)" readonly', content)]
    for target in (service, web_service):
        url = _send_url(hook, target)
        assert url in values
        curl = (
            "curl -X POST -H 'Content-Type: application/json' "
            f"""-d '{{"title":"Test","dedup_id":"test-1"}}' {url}"""
        )
        assert curl in values
    assert len(re.findall(r'id="send-url-\d+"', content)) == 2
    assert content.count("data-copy-target=") == 4  # a URL and a curl command each


def test_member_sees_urls_of_their_teams_services_only(
    hook: Webhook, platform: Team, service: Service, web_service: Service, member_client: Client
) -> None:
    content = member_client.get(f"/webhooks/{hook.pk}/").content.decode()
    assert _send_url(hook, service) in content
    assert web_service.routing_key not in content
    assert len(re.findall(r'id="send-url-\d+"', content)) == 1


def test_stakeholder_sees_no_routing_key(
    hook: Webhook, platform: Team, service: Service, stakeholder_client: Client
) -> None:
    content = stakeholder_client.get(f"/webhooks/{hook.pk}/").content.decode()
    assert service.routing_key not in content and str(hook.key) not in content
    assert "Stakeholders do not see routing keys" in content


def test_curl_example_really_reaches_the_receiver(
    hook: Webhook, service: Service, owner_client: Client
) -> None:
    content = owner_client.get(f"/webhooks/{hook.pk}/").content.decode()
    url = re.search(r'id="send-url-1" value="([^"]+)"', content)
    assert url is not None
    body = {"title": "Test", "dedup_id": "test-1"}
    response = Client().post(url.group(1), json.dumps(body), content_type="application/json")
    assert response.status_code == 202
    assert RawEvent.objects.get().routing_key == service.routing_key


def test_detail_lists_the_latest_events_to_owners_only(
    hook: Webhook, org_a: Organization, platform: Team, owner_client: Client, member_client: Client
) -> None:
    other = factories.make_webhook(organization=org_a, name="Other")
    events = [factories.make_raw_event(organization=org_a, webhook=hook) for _ in range(22)]
    not_this = factories.make_raw_event(organization=org_a, webhook=other)
    content = owner_client.get(f"/webhooks/{hook.pk}/").content.decode()
    shown = [int(i) for i in re.findall(r'href="/raw-events/(\d+)/"', content)]
    assert shown == [e.pk for e in events[::-1][:20]]
    assert not_this.pk not in shown
    assert "/raw-events/" not in member_client.get(f"/webhooks/{hook.pk}/").content.decode()


# --- the raw event browser -------------------------------------------------------------------


def _listed(client: Client, query: str = "") -> list[int]:
    response = client.get(f"/raw-events/{query}")
    assert response.status_code == 200
    return [int(i) for i in re.findall(r'<tr id="raw-event-(\d+)">', response.content.decode())]


def test_browser_is_for_owners(
    member_client: Client, stakeholder_client: Client, owner_client: Client
) -> None:
    assert member_client.get("/raw-events/").status_code == 403
    assert stakeholder_client.get("/raw-events/").status_code == 403
    assert "/raw-events/" not in member_client.get("/webhooks/").content.decode()
    assert 'href="/raw-events/"' in owner_client.get("/webhooks/").content.decode()


def test_browser_filters_by_status_webhook_and_time(
    hook: Webhook, org_a: Organization, org_b: Organization, owner_client: Client
) -> None:
    other = factories.make_webhook(organization=org_a, name="Other")
    now = timezone.now()
    old = factories.make_raw_event(
        organization=org_a, webhook=hook, received_at=now - timedelta(days=3)
    )
    failed = factories.make_raw_event(
        organization=org_a,
        webhook=hook,
        status=RawEventStatus.FAILED,
        error="ValueError: " + "x" * 200,
    )
    elsewhere = factories.make_raw_event(organization=org_a, webhook=other)
    factories.make_raw_event(organization=org_b)
    assert _listed(owner_client) == [elsewhere.pk, failed.pk, old.pk]
    assert _listed(owner_client, "?status=failed") == [failed.pk]
    assert _listed(owner_client, f"?webhook={other.pk}") == [elsewhere.pk]
    day = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert _listed(owner_client, f"?since={day}") == [elsewhere.pk, failed.pk]
    assert _listed(owner_client, f"?until={day}") == [old.pk]
    assert _listed(owner_client, "?status=nonsense&since=garbage") == [
        elsewhere.pk,
        failed.pk,
        old.pk,
    ]
    content = owner_client.get("/raw-events/?status=failed").content.decode()
    assert "ValueError: xxx" in content and "x" * 100 not in content  # truncated


def test_browser_pages_fifty_at_a_time(org_a: Organization, owner_client: Client) -> None:
    made = [factories.make_raw_event(organization=org_a).pk for _ in range(55)]
    newest_first = made[::-1]
    first = owner_client.get("/raw-events/?status=pending").content.decode()
    assert _listed(owner_client, "?status=pending") == newest_first[:50]
    older = re.search(r'href="\?([^"]+)" rel="next"', first)
    assert older is not None
    query = older.group(1).replace("&amp;", "&")
    assert "status=pending" in query and f"before={newest_first[49]}" in query
    assert _listed(owner_client, f"?{query}") == newest_first[50:]
    second = owner_client.get(f"/raw-events/?{query}").content.decode()
    assert 'rel="next"' not in second and 'rel="prev"' in second


def test_raw_event_detail_shows_body_headers_and_result(
    hook: Webhook, service: Service, owner_client: Client
) -> None:
    Client().post(
        _send_url(hook, service),
        json.dumps({"title": "Disk full", "dedup_id": "disk-1", "host": "db-1"}),
        content_type="application/json",
        HTTP_USER_AGENT="Alertmanager/0.27",
    )
    raw = RawEvent.objects.get()
    content = owner_client.get(f"/raw-events/{raw.pk}/").content.decode()
    assert "Not processed yet." in content
    assert "&quot;host&quot;: &quot;db-1&quot;" in content  # pretty-printed body
    assert "&quot;user-agent&quot;: &quot;Alertmanager/0.27&quot;" in content
    assert "Replay" not in content

    services.raw_events_drain()
    incident = Incident.objects.get()
    content = owner_client.get(f"/raw-events/{raw.pk}/").content.decode()
    assert "Not processed yet." not in content
    assert "<h3>Routing</h3>" in content
    assert f"&quot;service&quot;: {service.pk}" in content
    assert f'href="/incidents/{incident.pk}/"' in content
    assert ">Processed<" in content


def test_raw_event_detail_is_owners_only(
    org_a: Organization, member_client: Client, stakeholder_client: Client
) -> None:
    raw = factories.make_raw_event(organization=org_a)
    assert member_client.get(f"/raw-events/{raw.pk}/").status_code == 403
    assert stakeholder_client.get(f"/raw-events/{raw.pk}/").status_code == 403
    assert member_client.post(f"/raw-events/{raw.pk}/replay/").status_code == 403


def _failed_event(org: Organization, hook: Webhook) -> RawEvent:
    """A raw event whose routing key no service has: the drain marks it failed."""
    raw = factories.make_raw_event(organization=org, webhook=hook, routing_key="gone-away")
    services.raw_events_drain()
    raw.refresh_from_db()
    assert raw.status == RawEventStatus.FAILED
    return raw


def test_replay_requeues_a_failed_event(
    hook: Webhook,
    org_a: Organization,
    owner_client: Client,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    raw = _failed_event(org_a, hook)
    content = owner_client.get(f"/raw-events/{raw.pk}/").content.decode()
    assert "gone-away" in content and f'action="/raw-events/{raw.pk}/replay/"' in content
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(f"/raw-events/{raw.pk}/replay/")
    assert response.status_code == 302 and response["Location"] == f"/raw-events/{raw.pk}/"
    assert len(callbacks) == 1  # the drain is kicked once the replay commits
    raw.refresh_from_db()
    assert (raw.status, raw.error) == (RawEventStatus.PENDING, "")
    assert services.raw_events_claim() == [raw.pk]
    follow = owner_client.get(f"/raw-events/{raw.pk}/").content.decode()
    assert "queued for processing again" in follow


def test_replay_of_a_processed_event_is_refused(
    hook: Webhook, service: Service, org_a: Organization, owner_client: Client
) -> None:
    raw = factories.make_raw_event(
        organization=org_a, webhook=hook, routing_key=service.routing_key
    )
    services.raw_events_drain()
    raw.refresh_from_db()
    assert raw.status == RawEventStatus.PROCESSED
    response = owner_client.post(f"/raw-events/{raw.pk}/replay/")
    assert response.status_code == 422
    assert "Only a failed event can be replayed." in response.content.decode()
    after = RawEvent.objects.get(pk=raw.pk)
    assert (after.status, after.attempts, after.incident_id) == (
        RawEventStatus.PROCESSED,
        1,
        raw.incident_id,
    )


# --- tenancy ----------------------------------------------------------------------------------


def test_other_organizations_ids_answer_404(
    hook: Webhook, org_a: Organization, org_b: Organization, outsider_client: Client
) -> None:
    raw = factories.make_raw_event(organization=org_a, webhook=hook, status=RawEventStatus.FAILED)
    for path in (f"/webhooks/{hook.pk}/", f"/webhooks/{hook.pk}/edit/", f"/raw-events/{raw.pk}/"):
        assert outsider_client.get(path).status_code == 404
    for path in (
        f"/webhooks/{hook.pk}/edit/",
        f"/webhooks/{hook.pk}/enabled/",
        f"/webhooks/{hook.pk}/delete/",
        f"/raw-events/{raw.pk}/replay/",
    ):
        assert outsider_client.post(path, _form()).status_code == 404
    assert Webhook.objects.get(pk=hook.pk).name == "Alertmanager"
    assert RawEvent.objects.get(pk=raw.pk).status == RawEventStatus.FAILED
    content = outsider_client.get("/webhooks/").content.decode()
    assert "Alertmanager" not in content


def test_member_outside_every_team_sees_no_url(
    hook: Webhook, service: Service, org_a: Organization
) -> None:
    lone = factories.make_user(organization=org_a, email="lone@a.example", role=Role.MEMBER)
    content = session_client_for(lone).get(f"/webhooks/{hook.pk}/").content.decode()
    assert service.routing_key not in content
    assert "no service whose routing key you can see" in content
