"""Receive channel pages: list, create, edit (overrides, clearing), delete, debugger; who may
manage, who only reads, and tenancy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from incidents.models import Incident
from opsduty.models import Organization
from processing.models import ReceiveChannel
from tests import factories
from tests.ui.helpers import HTMX

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "receive_channels"


@pytest.fixture
def channel(org_a: Organization) -> ReceiveChannel:
    return factories.make_receive_channel(
        organization=org_a,
        name="Prometheus prod",
        base_template="alertmanager",
        overrides={"urgency": "low"},
    )


@pytest.fixture
def foreign(org_b: Organization) -> ReceiveChannel:
    return factories.make_receive_channel(organization=org_b, name="Bravo channel")


def _form(**overrides: str) -> dict[str, str]:
    return {"name": "Sentry web", "base_template": "sentry", "description": "", **overrides}


def test_list_shows_channels_and_builtins_to_owners_and_members(
    channel: ReceiveChannel, foreign: ReceiveChannel, owner_client: Client, member_client: Client
) -> None:
    page = owner_client.get("/receive-channels/").content.decode()
    assert "Prometheus prod" in page and "Prometheus Alertmanager" in page and "urgency" in page
    assert "Bravo channel" not in page
    assert f"/receive-channels/{channel.pk}/edit/" in page
    assert "/receive-channels/debug/?template=checkly" in page
    assert 'href="/receive-channels/"' in page  # nav link
    member_page = member_client.get("/receive-channels/").content.decode()
    assert "Prometheus prod" in member_page
    assert f"/receive-channels/{channel.pk}/debug/" in member_page
    assert f"/receive-channels/{channel.pk}/edit/" not in member_page  # members only view
    assert "New receive channel" not in member_page


def test_stakeholders_are_refused_and_have_no_nav_link(
    channel: ReceiveChannel, stakeholder_client: Client
) -> None:
    assert stakeholder_client.get("/receive-channels/").status_code == 403
    assert stakeholder_client.get(f"/receive-channels/{channel.pk}/debug/").status_code == 403
    assert 'href="/receive-channels/"' not in stakeholder_client.get("/profile/").content.decode()


def test_members_cannot_create_edit_or_delete(
    channel: ReceiveChannel, member_client: Client
) -> None:
    assert member_client.post("/receive-channels/new/", _form()).status_code == 403
    assert member_client.post(f"/receive-channels/{channel.pk}/edit/", _form()).status_code == 403
    assert member_client.post(f"/receive-channels/{channel.pk}/delete/").status_code == 403
    channel.refresh_from_db()
    assert channel.name == "Prometheus prod"


def test_foreign_channels_answer_404(
    channel: ReceiveChannel, foreign: ReceiveChannel, owner_client: Client
) -> None:
    for suffix in ("edit/", "delete/", "debug/"):
        assert owner_client.get(f"/receive-channels/{foreign.pk}/{suffix}").status_code == 404
        assert owner_client.post(f"/receive-channels/{foreign.pk}/{suffix}").status_code == 404
    assert ReceiveChannel.objects.filter(pk=foreign.pk, name="Bravo channel").exists()


def test_create_form_shows_the_builtin_values_as_placeholders(owner_client: Client) -> None:
    page = owner_client.get("/receive-channels/new/").content.decode()
    assert 'name="summary_template"' in page and 'name="labels_template"' in page
    # Django escapes the placeholder attribute; the generic summary source is in it.
    assert "p.title or p.summary or p.message" in page
    assert 'id="builtin-templates"' in page  # for switching the base template


def test_create_with_an_override(owner_client: Client, org_a: Organization) -> None:
    response = owner_client.post(
        "/receive-channels/new/", _form(summary_template="{{ payload.message }}!")
    )
    assert response.status_code == 302
    channel = ReceiveChannel.objects.get(organization=org_a, name="Sentry web")
    assert channel.base_template == "sentry"
    assert channel.overrides() == {"summary": "{{ payload.message }}!"}


def test_create_with_a_broken_template_shows_the_error_on_its_field(
    owner_client: Client,
) -> None:
    response = owner_client.post("/receive-channels/new/", _form(resolve_template="{% if %}"))
    assert response.status_code == 422
    form = response.context["form"]
    assert form.errors["resolve_template"][0].startswith("Template syntax error")
    assert "Template syntax error" in response.content.decode()
    assert not ReceiveChannel.objects.exists()


def test_edit_keeps_and_clears_overrides(channel: ReceiveChannel, owner_client: Client) -> None:
    page = owner_client.get(f"/receive-channels/{channel.pk}/edit/").content.decode()
    assert 'name="urgency_clear"' in page  # the clear box is shown for the set override
    assert 'name="summary_clear"' not in page
    data = {
        "name": "Prometheus prod",
        "base_template": "alertmanager",
        "description": "",
        "urgency_template": "low",
        "urgency_clear": "on",
        "summary_template": "{{ payload.groupKey }}",
    }
    assert owner_client.post(f"/receive-channels/{channel.pk}/edit/", data).status_code == 302
    channel.refresh_from_db()
    assert channel.urgency_template is None  # cleared: the built-in's urgency applies again
    assert channel.overrides() == {"summary": "{{ payload.groupKey }}"}


def test_delete_confirms_then_deletes(channel: ReceiveChannel, owner_client: Client) -> None:
    assert (
        "Delete receive channel"
        in owner_client.get(f"/receive-channels/{channel.pk}/delete/").content.decode()
    )
    assert owner_client.post(f"/receive-channels/{channel.pk}/delete/").status_code == 302
    assert not ReceiveChannel.objects.filter(pk=channel.pk).exists()


def test_debugger_renders_a_payload_for_htmx(
    channel: ReceiveChannel, member_client: Client
) -> None:
    url = f"/receive-channels/{channel.pk}/debug/"
    page = member_client.get(url).content.decode()
    assert 'hx-post="' + url in page and "Nothing rendered yet." in page
    payload = (FIXTURES / "alertmanager" / "firing.json").read_text()
    response = member_client.post(url, {"payload": payload}, headers=HTMX)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert 'id="debug-result"' in fragment
    assert "<html" not in fragment
    assert "HighErrorRate: High 5xx rate on the checkout API" in fragment
    assert '<td data-label="Rendered"><pre tabindex="0"><code>low</code></pre></td>' in fragment
    assert Incident.objects.count() == 0


def test_debugger_says_when_the_payload_is_not_an_object(
    channel: ReceiveChannel, owner_client: Client
) -> None:
    url = f"/receive-channels/{channel.pk}/debug/"
    fragment = owner_client.post(url, {"payload": "[1]"}, headers=HTMX).content.decode()
    assert "must be a JSON object, not list" in fragment
    response = owner_client.post(url, {"payload": "{oops"})
    assert response.status_code == 422
    assert "not valid JSON" in response.content.decode()


def test_debugger_shows_template_errors_per_field(
    owner_client: Client, org_a: Organization
) -> None:
    channel = factories.make_receive_channel(
        organization=org_a, overrides={"summary": "{{ payload.a.b }}"}
    )
    page = owner_client.post(
        f"/receive-channels/{channel.pk}/debug/", {"payload": json.dumps({"x": 1})}
    ).content.decode()
    assert "1 field did not render" in page
    assert "Event without summary (Template error" in page


def test_builtin_debugger(owner_client: Client) -> None:
    page = owner_client.get("/receive-channels/debug/?template=alertmanager").content.decode()
    assert "Debugger: Prometheus Alertmanager" in page
    payload = (FIXTURES / "alertmanager" / "resolved.json").read_text()
    page = owner_client.post(
        "/receive-channels/debug/?template=alertmanager", {"payload": payload}
    ).content.decode()
    assert "HighErrorRate: High 5xx rate on the checkout API" in page
    assert (
        '<th scope="row" data-label="Field">resolve</th><td data-label="Value"><code>True</code>'
        in page
    )
    assert owner_client.get("/receive-channels/debug/?template=nagios").status_code == 404
    assert "Generic JSON" in owner_client.get("/receive-channels/debug/").content.decode()
