"""Labels (issue 21, item 4) through the pages a person uses: the labels page (owners make
organization labels, team members their team's; edit, delete, promote), labels chosen from
the list on services, heartbeats and incidents, a team label refused on another team's
resources, a rename followed and a deletion removed everywhere, other organizations 404."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from incidents import services as incidents
from opsduty.models import Label, Organization, Service, Team, User
from signals.heartbeats import services as hb
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(team_a: Team, member: User) -> Team:
    factories.add_member(team_a, member)
    return team_a


@pytest.fixture
def service(team: Team) -> Service:
    return factories.make_service(team=team, name="Billing")


def chip(name: str, html: str) -> bool:
    """Whether the page shows a label chip of this name."""
    return re.search(rf'class="label-chip"[^>]*>{re.escape(name)}\b', html) is not None


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_owner_creates_an_organization_label_with_colour_and_group(
    owner_client: Client, member_client: Client, org_a: Organization
) -> None:
    response = owner_client.post(
        "/labels/create/", {"name": " prod ", "color": "#ff8800", "group": "Environment"}
    )
    assert response.status_code == 302
    listing = page(member_client, "/labels/")
    assert "<h2" in listing and ">Environment</h2>" in listing
    assert 'data-label-color="#ff8800">prod</span>' in listing
    row = listing[listing.index('data-label-color="#ff8800"') :]
    assert "Organization" in row[: row.index("</tr>")]
    # Another case of the same name is the same label.
    response = owner_client.post("/labels/create/", {"name": "PROD", "color": "#000000"})
    assert response.status_code == 422
    assert "A label named “PROD” already exists." in response.content.decode()
    response = owner_client.post("/labels/create/", {"name": "x", "color": "orange"})
    assert response.status_code == 422
    assert "Use a hex color like #ff8800." in response.content.decode()
    assert list(Label.objects.filter(organization=org_a).values_list("name", flat=True)) == ["prod"]


def test_a_member_makes_labels_of_their_team_only(
    team: Team, member_client: Client, org_a: Organization
) -> None:
    form = page(member_client, "/labels/")
    assert "Organization: every team" not in form  # members pick a team
    response = member_client.post("/labels/create/", {"name": "org-wide", "color": "#111111"})
    assert response.status_code == 422
    assert not Label.objects.filter(name="org-wide").exists()
    response = member_client.post(
        "/labels/create/", {"name": "ledger", "color": "#111111", "team": team.pk}
    )
    assert response.status_code == 302
    label = Label.objects.get(name="ledger")
    assert label.team == team
    other = factories.make_team(organization=org_a, name="Other")
    response = member_client.post(
        "/labels/create/", {"name": "theirs", "color": "#111111", "team": other.pk}
    )
    assert response.status_code == 422 and not Label.objects.filter(name="theirs").exists()
    # The member edits their team's label, not an organization label.
    owners_label = factories.make_label(organization=org_a, name="shared")
    listing = page(member_client, "/labels/")
    assert f"/labels/{label.pk}/edit/" in listing
    assert f"/labels/{owners_label.pk}/edit/" not in listing
    assert member_client.get(f"/labels/{owners_label.pk}/edit/").status_code == 403
    response = member_client.post(f"/labels/{owners_label.pk}/delete/")
    assert response.status_code == 403 and Label.objects.filter(pk=owners_label.pk).exists()


def test_owner_promotes_a_team_label_and_other_teams_can_use_it(
    team: Team, service: Service, owner_client: Client, member_client: Client, org_a: Organization
) -> None:
    other_team = factories.make_team(organization=org_a, name="Search")
    other_service = factories.make_service(team=other_team, name="Search API")
    label = factories.make_label(organization=org_a, name="ledger", team=team)
    edit = {
        "name": "Search API",
        "service_type": "technical",
        "team": other_team.pk,
        "labels": [label.pk],
    }
    # Before: refused on the other team's service.
    response = owner_client.post(f"/services/{other_service.pk}/edit/", edit)
    assert response.status_code == 422
    assert "Not a label of this team or the organization: ledger" in response.content.decode()
    assert "No labels" in page(owner_client, f"/services/{other_service.pk}/")
    # A member cannot promote.
    assert member_client.post(f"/labels/{label.pk}/promote/").status_code == 403
    response = owner_client.post(f"/labels/{label.pk}/promote/", follow=True)
    assert "“ledger” is now an organization label" in response.content.decode()
    assert owner_client.post(f"/services/{other_service.pk}/edit/", edit).status_code == 302
    assert ">ledger</span>" in page(owner_client, f"/services/{other_service.pk}/")


def test_a_service_carries_labels_chosen_from_the_list(
    service: Service, member_client: Client, org_a: Organization
) -> None:
    prod = factories.make_label(organization=org_a, name="prod", group="Environment")
    payments = factories.make_label(organization=org_a, name="ledger", team=service.team)
    form = page(member_client, f"/services/{service.pk}/edit/")
    assert "Environment · prod" in form and "ledger (team" in form
    response = member_client.post(
        f"/services/{service.pk}/edit/",
        {
            "name": "Billing",
            "service_type": "technical",
            "team": service.team_id,
            "labels": [prod.pk, payments.pk],
        },
    )
    assert response.status_code == 302
    detail = page(member_client, f"/services/{service.pk}/")
    chips = detail[detail.index('id="service-labels"') :]
    chips = chips[: chips.index("</dd>")]
    assert ">prod</span>" in chips and ">ledger</span>" in chips


def test_incident_labels_come_from_the_list(
    service: Service, member_client: Client, org_a: Organization
) -> None:
    factories.make_label(organization=org_a, name="customer-facing")
    incident = factories.make_incident(service=service, summary="Checkout down")
    detail = page(member_client, f"/incidents/{incident.pk}/")
    assert '<option value="customer-facing">' in detail
    response = member_client.post(
        f"/incidents/{incident.pk}/labels/add/", {"name": "made-up"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert not Label.objects.filter(name="made-up").exists()


def test_rename_follows_on_heartbeats_and_delete_takes_the_label_off_everything(
    service: Service, owner_client: Client, org_a: Organization
) -> None:
    label = factories.make_label(organization=org_a, name="nightly")
    heartbeat = hb.heartbeat_create(service=service, by=None, name="Backup", labels=["nightly"])
    incident = factories.make_incident(service=service, summary="Backup missed")
    incidents.incident_add_label(incident=incident, by=None, name="nightly", create=False)
    service.labels.add(label)
    response = owner_client.post(
        f"/labels/{label.pk}/edit/", {"name": "night-jobs", "color": "#123456", "group": ""}
    )
    assert response.status_code == 302
    assert chip("night-jobs", page(owner_client, f"/heartbeats/{heartbeat.pk}/"))
    assert chip("night-jobs", page(owner_client, f"/incidents/{incident.pk}/"))
    confirm = page(owner_client, f"/labels/{label.pk}/delete/")
    assert "It comes off 1 incident, 1 service and every heartbeat carrying it." in confirm
    assert owner_client.post(f"/labels/{label.pk}/delete/").status_code == 302
    for url in (f"/heartbeats/{heartbeat.pk}/", f"/incidents/{incident.pk}/", "/labels/"):
        assert not chip("night-jobs", page(owner_client, url))
    assert "No labels" in page(owner_client, f"/services/{service.pk}/")


def test_a_team_label_is_refused_on_another_teams_heartbeat(
    service: Service, org_a: Organization
) -> None:
    other = factories.make_team(organization=org_a, name="Search")
    factories.make_label(organization=org_a, name="search-only", team=other)
    with pytest.raises(Exception, match="Not a label of this team or the organization"):
        hb.heartbeat_create(service=service, by=None, name="Backup", labels=["search-only"])


def test_another_organizations_labels_are_not_found(
    org_a: Organization, outsider_client: Client
) -> None:
    label = factories.make_label(organization=org_a, name="secret-project")
    assert "secret-project" not in page(outsider_client, "/labels/")
    for url in (f"/labels/{label.pk}/edit/", f"/labels/{label.pk}/delete/"):
        assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(f"/labels/{label.pk}/promote/").status_code == 404
    assert Label.objects.get(pk=label.pk).name == "secret-project"
