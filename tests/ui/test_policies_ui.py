"""Escalation policy pages through the Django test client: create a policy, add steps of each
kind (422 with per-field errors), the drag-and-drop reorder POST and the Move buttons, delete
refused while used, the policy select of the service form, who may manage, and tenancy."""

from __future__ import annotations

import pytest
from django.test import Client

from escalations.catalog.services import service_set_policy
from escalations.models import EscalationPolicy, EscalationStep
from escalations.policies import services as ps
from opsduty.models import Organization, Role, Service, Team, User
from tests import factories
from tests.conftest import session_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(team_a: Team, member: User, stakeholder: User) -> Team:
    factories.add_member(team_a, member)
    factories.add_member(team_a, stakeholder)
    return team_a


@pytest.fixture
def policy(team: Team) -> EscalationPolicy:
    return ps.policy_create(team=team, by=None, name="Platform default")


def url(policy: EscalationPolicy, suffix: str = "") -> str:
    return f"/escalation-policies/{policy.pk}/{suffix}"


def kinds(policy: EscalationPolicy) -> list[str]:
    return [s.kind for s in EscalationStep.objects.filter(policy=policy).order_by("position")]


def test_member_creates_a_policy_and_sees_the_editor(team: Team, member_client: Client) -> None:
    response = member_client.post(
        "/escalation-policies/new/", {"name": "Night shift", "team": team.pk, "description": ""}
    )
    policy = EscalationPolicy.objects.get(name="Night shift")
    assert response.status_code == 302 and response["Location"] == url(policy)
    page = member_client.get(url(policy)).content.decode()
    assert "No steps: nobody is paged." in page
    assert "vendor/sortablejs/Sortable.min.js" in page
    listing = member_client.get("/escalation-policies/").content.decode()
    assert "Night shift" in listing and 'aria-current="page">Escalation policies' in listing


def test_duplicate_policy_name_answers_422(policy: EscalationPolicy, member_client: Client) -> None:
    data = {"name": "Platform default", "team": policy.team_id, "description": ""}
    response = member_client.post("/escalation-policies/new/", data)
    assert response.status_code == 422
    assert "An escalation policy with this name already exists." in response.content.decode()


def test_add_steps_of_each_kind_through_the_forms(
    policy: EscalationPolicy, team: Team, member: User, member_client: Client
) -> None:
    posts = [
        ("notify", {"users": [member.pk], "teams": [team.pk], "channel": "voice"}),
        ("wait", {"wait_minutes": "37"}),
        ("notify_if_events", {"teams": [team.pk], "events_count": "3", "window_minutes": "15"}),
        (
            "notify_if_time",
            {
                "users": [member.pk],
                "time_from": "09:00",
                "time_to": "17:30",
                "timezone": "Europe/Oslo",
            },
        ),  # fmt: skip
        ("repeat", {"repeat_times": "2"}),
        ("resolve", {}),
    ]
    for kind, data in posts:
        form = member_client.get(url(policy, f"steps/new/?kind={kind}"))
        assert form.status_code == 200
        response = member_client.post(url(policy, f"steps/new/?kind={kind}"), data)
        assert response.status_code == 302, (kind, response.content.decode()[:2000])
    assert kinds(policy) == [k for k, _ in posts]
    page = member_client.get(url(policy)).content.decode()
    assert "by voice call" in page and "Wait 37 minutes" in page
    assert "Repeat from step 1 (up to 2 times)" in page


def test_step_form_shows_only_the_fields_of_its_kind(
    policy: EscalationPolicy, member_client: Client
) -> None:
    page = member_client.get(url(policy, "steps/new/?kind=wait")).content.decode()
    assert 'name="wait_minutes"' in page
    assert 'name="users"' not in page and 'name="events_count"' not in page
    picker = member_client.get(url(policy, "steps/new/")).content.decode()
    assert "?kind=notify_if_time" in picker


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("wait", {"wait_minutes": "0"}, "from 1 to 1440"),
        ("wait", {"wait_minutes": "1441"}, "from 1 to 1440"),
        ("wait", {"wait_minutes": "soon"}, "Enter a whole number of minutes."),
        ("notify", {"channel": "email"}, "Choose at least one user, team or schedule to notify."),
        ("notify_if_events", {"events_count": "0", "window_minutes": "5"}, "from 1 to 1000"),
        ("repeat", {"repeat_times": "6"}, "from 1 to 5"),
    ],
)
def test_bad_step_input_answers_422_with_the_field_error(
    policy: EscalationPolicy, member_client: Client, kind: str, data: dict[str, str], message: str
) -> None:
    response = member_client.post(url(policy, f"steps/new/?kind={kind}"), data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not EscalationStep.objects.exists()


def test_bad_time_window_answers_422(
    policy: EscalationPolicy, team: Team, member_client: Client
) -> None:
    data = {"teams": [team.pk], "time_from": "09:00", "time_to": "09:00", "timezone": "UTC"}
    response = member_client.post(url(policy, "steps/new/?kind=notify_if_time"), data)
    assert response.status_code == 422
    assert "The window must end at another time than it starts." in response.content.decode()


def test_stakeholders_are_not_offered_and_refused_as_targets(
    policy: EscalationPolicy, stakeholder: User, member_client: Client
) -> None:
    page = member_client.get(url(policy, "steps/new/?kind=notify")).content.decode()
    assert stakeholder.email not in page
    response = member_client.post(
        url(policy, "steps/new/?kind=notify"), {"users": [stakeholder.pk]}
    )
    assert response.status_code == 422
    assert "stakeholders are never notified" in response.content.decode()


def test_drag_and_drop_reorder_post(policy: EscalationPolicy, member_client: Client) -> None:
    a, b, c = (ps.step_add(policy=policy, by=None, kind="wait", wait_minutes=m) for m in (1, 2, 3))
    response = member_client.post(url(policy, "steps/reorder/"), {"step": [c.pk, a.pk, b.pk]})
    assert response.status_code == 200 and response.json() == {"order": [c.pk, a.pk, b.pk]}
    order = EscalationStep.objects.filter(policy=policy).order_by("position")
    assert [(s.pk, s.position) for s in order] == [(c.pk, 0), (a.pk, 1), (b.pk, 2)]
    stale = member_client.post(url(policy, "steps/reorder/"), {"step": [c.pk, a.pk]})
    assert stale.status_code == 422 and "reload" in stale.json()["errors"]["order"][0]
    junk = member_client.post(url(policy, "steps/reorder/"), {"step": ["x"]})
    assert junk.status_code == 422


def test_move_buttons_reorder_without_javascript(
    policy: EscalationPolicy, member_client: Client
) -> None:
    a = ps.step_add(policy=policy, by=None, kind="wait", wait_minutes=1)
    b = ps.step_add(policy=policy, by=None, kind="resolve")
    response = member_client.post(f"/escalation-steps/{b.pk}/move/", {"direction": "up"})
    assert response.status_code == 302
    assert kinds(policy) == ["resolve", "wait"]
    member_client.post(f"/escalation-steps/{b.pk}/move/", {"direction": "down"})
    assert kinds(policy) == ["wait", "resolve"]
    assert EscalationStep.objects.get(pk=a.pk).position == 0


def test_edit_and_delete_a_step(policy: EscalationPolicy, member_client: Client) -> None:
    step = ps.step_add(policy=policy, by=None, kind="wait", wait_minutes=1)
    page = member_client.get(f"/escalation-steps/{step.pk}/edit/").content.decode()
    assert 'value="1"' in page
    bad = member_client.post(f"/escalation-steps/{step.pk}/edit/", {"wait_minutes": "2000"})
    assert bad.status_code == 422
    member_client.post(f"/escalation-steps/{step.pk}/edit/", {"wait_minutes": "45"})
    assert EscalationStep.objects.get(pk=step.pk).wait_minutes == 45
    member_client.post(f"/escalation-steps/{step.pk}/delete/")
    assert not EscalationStep.objects.exists()


def test_delete_refused_while_a_service_uses_it(
    policy: EscalationPolicy, team: Team, member_client: Client
) -> None:
    service = factories.make_service(team=team, name="API")
    service_set_policy(service=service, policy=policy, by=None)
    response = member_client.post(url(policy, "delete/"), follow=True)
    assert "Services use this escalation policy: “API”" in response.content.decode()
    assert EscalationPolicy.objects.filter(pk=policy.pk).exists()


def test_service_form_offers_only_its_teams_policies(
    policy: EscalationPolicy, team: Team, org_a: Organization, owner_client: Client
) -> None:
    other = factories.make_team(organization=org_a, name="Payments")
    foreign = ps.policy_create(team=other, by=None, name="Payments default")
    service = factories.make_service(team=team, name="API")
    page = owner_client.get(f"/services/{service.pk}/edit/").content.decode()
    assert "Platform default" in page and "Payments default" not in page
    data = {"name": "API", "service_type": "technical", "team": team.pk, "slack_channel": ""}
    refused = owner_client.post(
        f"/services/{service.pk}/edit/", {**data, "escalation_policy": foreign.pk}
    )
    assert refused.status_code == 422
    assert "Choose an escalation policy of the service&#x27;s own team." in refused.content.decode()
    saved = owner_client.post(
        f"/services/{service.pk}/edit/", {**data, "escalation_policy": policy.pk}
    )
    assert saved.status_code == 302
    assert Service.objects.get(pk=service.pk).escalation_policy == policy
    detail = owner_client.get(f"/services/{service.pk}/").content.decode()
    assert url(policy) in detail


def test_read_only_for_stakeholders_and_hidden_from_other_teams(
    policy: EscalationPolicy, org_a: Organization, stakeholder_client: Client
) -> None:
    page = stakeholder_client.get(url(policy)).content.decode()
    assert "Read-only" in page and "Sortable.min.js" not in page
    step = ps.step_add(policy=policy, by=None, kind="wait", wait_minutes=1)
    assert stakeholder_client.post(url(policy, "steps/new/?kind=resolve")).status_code == 403
    assert stakeholder_client.post(f"/escalation-steps/{step.pk}/delete/").status_code == 403
    assert stakeholder_client.get("/escalation-policies/new/").status_code == 403
    stranger = factories.make_user(organization=org_a, role=Role.MEMBER)
    client = session_client_for(stranger)
    assert client.get(url(policy)).status_code == 404
    assert client.post(url(policy, "steps/reorder/"), {"step": [step.pk]}).status_code == 404
    assert client.post(f"/escalation-steps/{step.pk}/move/").status_code == 404


def test_outsider_gets_404(policy: EscalationPolicy, outsider_client: Client) -> None:
    assert outsider_client.get(url(policy)).status_code == 404
    assert outsider_client.post(url(policy, "delete/")).status_code == 404
    assert "Platform default" not in outsider_client.get("/escalation-policies/").content.decode()


def test_sortablejs_is_served_from_node_modules() -> None:
    from django.contrib.staticfiles import finders

    found = finders.find("vendor/sortablejs/Sortable.min.js")
    assert isinstance(found, str) and "node_modules" in found
