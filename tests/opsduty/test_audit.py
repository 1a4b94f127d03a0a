"""The audit log (issue 21, item 8): configuration changes made through the UI and the API
show on /settings/audit/ and in its CSV with who, when, from where and what changed; secrets
never; another organization's owner sees none of them; the ingest and escalation path
writes nothing; a deleted person's data leaves the entries."""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from celery.signals import task_postrun, task_prerun
from django.test import Client
from django.utils import timezone

from escalations.catalog.services import service_set_policy
from escalations.engine import services as engine
from escalations.engine.models import EscalationRun
from escalations.notifications.rules import RuleInput, notification_rules_replace
from escalations.policies.models import EscalationPolicy, StepKind
from escalations.policies.services import policy_create, step_add
from escalations.schedules.models import ScheduleOverride
from escalations.schedules.services import override_create, override_delete, schedule_create
from incidents.ingest import drain
from incidents.models import Incident
from opsduty import services as core
from opsduty.audit import Acting, acting, current_acting, person_label
from opsduty.models import AuditChannel, AuditLogEntry, Organization, Role, Service, Team, User
from signals.models import Webhook
from signals.receiver import ingest
from tests import factories

pytestmark = pytest.mark.django_db

OWNER_IP = "203.0.113.7"
API_IP = "198.51.100.23"


@pytest.fixture(autouse=True)
def _fresh_ingest_cache() -> Any:
    ingest.cache_clear()
    yield
    ingest.cache_clear()


@pytest.fixture
def web(owner: User) -> Client:
    """The owner in a browser at OWNER_IP."""
    client = Client(REMOTE_ADDR=OWNER_IP)
    client.force_login(owner)
    return client


@pytest.fixture
def team(org_a: Organization, owner: User, member: User) -> Team:
    team = factories.make_team(organization=org_a, name="Platform")
    factories.add_member(team, owner)
    factories.add_member(team, member)
    return team


@pytest.fixture
def service(team: Team) -> Service:
    return factories.make_service(team=team, name="API")


def _page(client: Client, **params: str) -> str:
    response = client.get("/settings/audit/", params)
    assert response.status_code == 200, response.content[:2000]
    return response.content.decode()


def _csv(client: Client, **params: str) -> list[dict[str, str]]:
    response = client.get("/settings/audit/export.csv", params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(body)))


def _row(rows: list[dict[str, str]], **wanted: str) -> dict[str, str]:
    found = [r for r in rows if all(wanted[k] in r[k] for k in wanted)]
    assert found, f"no row with {wanted} in {rows}"
    return found[0]


def _entries(organization: Organization) -> int:
    count: int = AuditLogEntry.objects.filter(organization=organization).count()
    return count


# --- changes through the UI and the API, on the page and in the CSV --------------------------


def test_a_role_change_shows_who_from_where_and_what(
    web: Client, owner: User, member: User
) -> None:
    response = web.post(f"/members/{member.pk}/role/", {"role": Role.STAKEHOLDER})
    assert response.status_code == 302
    page = _page(web, kind="opsduty.user", action="update")
    assert "Member" in page and "Stakeholder" in page
    assert html.escape(person_label(owner)) in page and OWNER_IP in page and "Web" in page
    row = _row(_csv(web), kind="Person", action="changed", object=member.email)
    assert row["actor"] == person_label(owner)
    assert (row["channel"], row["ip_address"]) == ("web", OWNER_IP)
    assert "Role: Member → Stakeholder" in row["changes"]
    assert row["time_utc"].endswith("+00:00")


def test_a_new_team_and_its_member(web: Client, owner: User, member: User) -> None:
    assert web.post("/teams/create/", {"name": "Backend"}).status_code == 302
    team = Team.objects.get(name="Backend")
    web.post(f"/teams/{team.pk}/members/add/", {"user": member.pk})
    rows = _csv(web)
    created = _row(rows, kind="Team", action="created", object="Backend")
    assert created["actor"] == person_label(owner) and created["ip_address"] == OWNER_IP
    _row(rows, kind="Team membership", action="created", object=f"{member.email}> in Backend")
    assert "Backend" in _page(web, q="backend", kind="opsduty.team")


def test_a_service_edit_lists_the_changed_fields(web: Client, service: Service, team: Team) -> None:
    data = {"name": "Public API", "service_type": "business", "team": team.pk}
    response = web.post(f"/services/{service.pk}/edit/", {**data, "slack_channel": "#api"})
    assert response.status_code == 302
    row = _row(_csv(web, kind="opsduty.service"), action="changed")
    assert "Name: API → Public API" in row["changes"]
    assert "Service type: Technical → Business" in row["changes"]
    assert service.routing_key not in json.dumps(_csv(web))


def test_an_api_token_is_recorded_never_its_value(web: Client, owner: User) -> None:
    response = web.post("/profile/tokens/", {"name": "Grafana sync", "scope": "api:v1"})
    assert response.status_code == 200
    raw = response.content.decode().split('id="token-value" value="')[1].split('"')[0]
    token = owner.api_tokens.get()
    web.post(f"/profile/tokens/{token.pk}/revoke/")
    rows = _csv(web, kind="opsduty.apitoken")
    _row(rows, action="created", object="Grafana sync")
    _row(rows, action="deleted", object="Grafana sync")
    everything = json.dumps(_csv(web)) + _page(web)
    assert raw not in everything
    digest = AuditLogEntry.objects.filter(content_type__model="accesstoken")
    assert not digest.exists()


def test_an_escalation_policy_change_and_a_step_reorder(
    web: Client, team: Team, member: User
) -> None:
    policy = policy_create(team=team, by=None, name="Default")
    first = step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=5)
    second = step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    data = {"name": "Daytime", "team": team.pk, "description": "Office hours"}
    assert web.post(f"/escalation-policies/{policy.pk}/edit/", data).status_code == 302
    # Moving a step renumbers the others with bulk_update (no model signals).
    web.post(f"/escalation-steps/{second.pk}/move/", {"position": "0"})
    rows = _csv(web)
    row = _row(rows, kind="Escalation policy", action="changed")
    assert "Name: Default → Daytime" in row["changes"]
    assert row["ip_address"] == OWNER_IP
    moved = {
        r["object"]: r["changes"]
        for r in rows
        if r["kind"] == "Escalation step"
        and r["action"] == "changed"
        and "Position" in r["changes"]
    }
    # Named by their new places; positions count from 0 (the stored value).
    assert moved == {"Daytime: Step 1": "Position: 1 → 0", "Daytime: Step 2": "Position: 0 → 1"}
    assert first.pk != second.pk
    created = _row(rows, kind="Escalation step", action="changed", changes="Users: added")
    assert member.email in created["changes"]


def test_a_schedule_edit_and_an_api_override(
    web: Client, team: Team, owner: User, member: User
) -> None:
    schedule = schedule_create(team=team, by=None, name="Primary")
    data = {"name": "Primary 2", "description": "", "timezone": "Europe/Oslo"}
    assert web.post(f"/schedules/{schedule.pk}/edit/", data).status_code == 302
    raw = core.api_token_create(user=owner, name="Rota sync")
    api = Client(REMOTE_ADDR=API_IP, HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = {"user_id": member.pk, "start": "2031-01-05T10:00:00Z", "end": "2031-01-05T18:00:00Z"}
    path = f"/api/v1/schedules/{schedule.pk}/overrides/"
    assert api.post(path, body, content_type="application/json").status_code == 201
    rows = _csv(web)
    edit = _row(rows, kind="Schedule", action="changed")
    assert "Time zone: UTC → Europe/Oslo" in edit["changes"] or "Europe/Oslo" in edit["changes"]
    over = _row(rows, kind="Schedule override", action="created")
    assert (over["actor"], over["channel"], over["ip_address"]) == (
        f'{person_label(owner)} (API token "Rota sync")',
        "api",
        API_IP,
    )
    page = _page(web, kind="escalations.scheduleoverride", channel="api")
    assert html.escape('API token "Rota sync"') in page and API_IP in page
    assert "Rota sync" in _page(web, q="rota sync")  # the text filter reads who acted
    assert "<strong>Primary 2</strong> changed" in _page(web, channel="web")
    assert "<strong>Primary 2</strong> changed" not in _page(web, channel="api")
    assert raw not in json.dumps(_csv(web)) + _page(web)


def test_a_webhook_change_never_shows_its_key(web: Client, org_a: Organization) -> None:
    assert (
        web.post(
            "/webhooks/new/",
            {
                "name": "Prom",
                "enabled": "on",
                "source": "builtin:generic",
                "rate_limit_per_minute": "300",
            },
        ).status_code
        == 302
    )  # noqa: E501
    webhook = Webhook.objects.get(name="Prom")
    form = {"name": "Prometheus", "source": "builtin:generic", "rate_limit_per_minute": "300"}
    assert web.post(f"/webhooks/{webhook.pk}/edit/", form).status_code == 302
    rows = _csv(web, kind="signals.webhook")
    _row(rows, action="created", object="Prom")
    changed = _row(rows, action="changed", object="Prometheus")
    assert "Name: Prom → Prometheus" in changed["changes"]
    assert "Enabled: True → False" in changed["changes"]
    everything = json.dumps(_csv(web)) + _page(web)
    assert webhook.key not in everything and webhook.key_hash not in everything


def test_a_password_change_is_recorded_hidden(web: Client, owner: User) -> None:
    owner.set_password("old-secret-pass-1")
    owner.save()
    data = {
        "old_password": "old-secret-pass-1",
        "new_password1": "brand-new-secret-42",
        "new_password2": "brand-new-secret-42",
    }
    assert web.post("/profile/password/", data).status_code == 302
    web.force_login(owner)  # a new password ends the other sessions; this one may stay
    row = _row(_csv(web), kind="Person", changes="Password")
    assert "changed (hidden)" in row["changes"]
    owner.refresh_from_db()
    assert owner.password not in json.dumps(_csv(web)) + _page(web)


def test_shell_changes_say_system_and_scim_can_name_itself(
    web: Client, org_a: Organization
) -> None:
    core.team_create(organization=org_a, name="From shell", by=_owner(org_a))
    with acting(actor_label="SCIM: Okta", channel=AuditChannel.SCIM, ip="192.0.2.10"):
        core.team_create(organization=org_a, name="From SCIM", by=_owner(org_a))
    rows = _csv(web)
    shell = _row(rows, object="From shell")
    assert (shell["actor"], shell["channel"], shell["ip_address"]) == ("system", "shell", "")
    scim = _row(rows, object="From SCIM")
    assert (scim["actor"], scim["channel"], scim["ip_address"]) == (
        "SCIM: Okta",
        "scim",
        "192.0.2.10",
    )
    assert "SCIM: Okta" in _page(web, actor="system")
    assert "From SCIM" not in _page(web, actor=str(_owner(org_a).pk))


def _owner(organization: Organization) -> User:
    return User.objects.filter(organization=organization, role=Role.OWNER).first()  # type: ignore[return-value]


def test_no_audit_context_outlives_a_request_or_a_task(owner: User) -> None:
    """The API view names its caller only inside the middleware's block; a worker's task
    context ends with the task. Either left behind, the next change anywhere in the thread
    would be recorded as that person's (or, in tests, as a person rolled back)."""
    from django.test import RequestFactory
    from django.urls import resolve

    from opsduty.tasks import organization_purge as task

    raw = core.api_token_create(user=owner)
    request = RequestFactory().get("/api/v1/services/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert resolve("/api/v1/services/").func(request).status_code == 200
    assert current_acting() == Acting()
    task_prerun.send(sender=task, task_id="t-1", task=task, args=[], kwargs={})
    assert current_acting().channel == AuditChannel.TASK
    task_postrun.send(sender=task, task_id="t-1", task=task, args=[], kwargs={}, retval=None)
    assert current_acting() == Acting()


# --- paths that bypass model signals -----------------------------------------------------------


def test_update_paths_are_recorded(web: Client, owner: User, team: Team, member: User) -> None:
    schedule = schedule_create(team=team, by=None, name="Primary")
    now = timezone.now()
    with acting(actor=owner, channel=AuditChannel.WEB, ip=OWNER_IP):
        running = override_create(
            schedule=schedule,
            by=owner,
            user=member,
            start=now,  # it runs from now: deleting it ends it (an UPDATE)
            end=now + timedelta(hours=5),
        )
        override_delete(override=running, by=owner)  # a running override ends now: an UPDATE
        notification_rules_replace(
            user=member, urgency="low", rules=[RuleInput(delay_minutes=3, channel="email")]
        )
    rows = _csv(web)
    ended = _row(rows, kind="Schedule override", action="changed", changes="End:")
    assert ended["actor"] == person_label(owner)
    assert ScheduleOverride.objects.get(pk=running.pk).end <= timezone.now()
    rule = _row(rows, kind="Notification rule", action="created")
    assert "Delay minutes: 3" in rule["changes"] or "3" in rule["changes"]


def test_an_expired_invitation_replaced_is_recorded_revoked(
    web: Client, org_a: Organization
) -> None:
    web.post("/members/invite/", {"email": "new@a.example", "role": "member"})
    from opsduty.models import Invitation

    Invitation.objects.update(expires_at=timezone.now() - timedelta(days=1))
    web.post("/members/invite/", {"email": "new@a.example", "role": "member"})
    rows = _csv(web, kind="opsduty.invitation")
    assert len([r for r in rows if r["action"] == "created"]) == 2
    _row(rows, action="changed", changes="Revoked at")


# --- who may see what --------------------------------------------------------------------------


def test_the_log_cannot_be_changed_from_the_ui(web: Client, org_a: Organization) -> None:
    web.post("/teams/create/", {"name": "Kept"})
    before = list(AuditLogEntry.objects.filter(organization=org_a).values())
    entry = before[0]["id"]
    for path in ("/settings/audit/", "/settings/audit/export.csv"):
        for method in (web.post, web.put, web.patch, web.delete):
            assert method(path, {"id": entry}).status_code == 405
    assert list(AuditLogEntry.objects.filter(organization=org_a).values()) == before


def test_the_django_admin_shows_entries_read_only(web: Client, owner: User) -> None:
    """A platform operator (is_staff) reads entries in the Django admin, never edits them."""
    web.post("/teams/create/", {"name": "Ops"})
    User.objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    entry = AuditLogEntry.objects.filter(object_repr="Ops").get()
    base = "/admin/opsduty/auditlogentry/"
    assert web.get(base).status_code == 200
    assert web.get(f"{base}{entry.pk}/change/").status_code == 200  # the view-only page
    assert web.post(f"{base}{entry.pk}/change/", {"object_repr": "x"}).status_code == 403
    assert web.post(f"{base}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    web.post(base, bulk)
    assert web.get(f"{base}add/").status_code == 403
    assert AuditLogEntry.objects.filter(pk=entry.pk, object_repr="Ops").exists()


def test_a_spreadsheet_formula_in_a_name_is_defused_in_the_csv(web: Client) -> None:
    web.post("/teams/create/", {"name": '=HYPERLINK("http://evil.example","x")'})
    row = _row(_csv(web, kind="opsduty.team"), action="created")
    assert row["object"] == '\'=HYPERLINK("http://evil.example","x")'


def test_a_secret_named_field_is_never_shown(web: Client, org_a: Organization) -> None:
    """Even an entry written without the mask (a field registered by mistake, an older
    entry) shows a field named like a secret as "(hidden)"."""
    team = core.team_create(organization=org_a, name="Vault", by=_owner(org_a))
    changes = {"client_secret": ["old-s3cr3t-value", "new-s3cr3t-value"]}
    AuditLogEntry.objects.log_create(
        team, force_log=True, action=AuditLogEntry.Action.UPDATE, changes=changes
    )
    everything = json.dumps(_csv(web)) + _page(web)
    assert "s3cr3t-value" not in everything
    assert "Client_secret: changed (hidden)" in _row(_csv(web), object="Vault")["changes"]


def test_members_cannot_see_the_audit_log(
    member_client: Client, stakeholder_client: Client
) -> None:
    for client in (member_client, stakeholder_client):
        assert client.get("/settings/audit/").status_code == 403
        assert client.get("/settings/audit/export.csv").status_code == 403
    assert Client().get("/settings/audit/").status_code == 302  # to the sign-in page


def test_another_organization_sees_none_of_the_entries(
    web: Client, outsider_client: Client, member: User
) -> None:
    web.post(f"/members/{member.pk}/role/", {"role": Role.STAKEHOLDER})
    web.post("/teams/create/", {"name": "Secret team"})
    page = _page(outsider_client)
    assert "Secret team" not in page and member.email not in page
    rows = _csv(outsider_client)
    assert not any("Secret team" in r["object"] or member.email in r["object"] for r in rows)
    outsider_client.post("/teams/create/", {"name": "B side"})
    assert "B side" in _page(outsider_client) and "B side" not in _page(web)
    assert not any("B side" in r["object"] for r in _csv(web))
    foreign = outsider_client.get("/settings/audit/", {"actor": str(member.pk)})
    assert foreign.status_code == 400
    assert "Choose a person of this organization from the list." in foreign.content.decode()
    assert (
        outsider_client.get("/settings/audit/export.csv", {"actor": str(member.pk)}).status_code
        == 400
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "Enter a date as YYYY-MM-DD."),
        ({"since": "2026-05-02", "until": "2026-05-01"}, "The range ends before it starts."),
        ({"since": "0001-01-01"}, "Must be a date from 1970-01-01"),
        ({"action": "explode"}, "Choose created, changed or deleted."),
        ({"channel": "fax"}, "Choose web, API, SCIM, SSO, Slack, phone, task or shell."),
        ({"kind": "incidents.incident"}, "Choose a kind of object from the list."),
        ({"actor": "12abc"}, "Choose a person of this organization from the list."),
        ({"q": "x" * 300}, "at most 200 characters"),
    ],
)
def test_bad_filters_get_a_clear_message(web: Client, params: dict[str, str], message: str) -> None:
    response = web.get("/settings/audit/", params)
    assert response.status_code == 400
    assert message in response.content.decode()
    csv_response = web.get("/settings/audit/export.csv", params)
    assert csv_response.status_code == 400
    assert message in csv_response.content.decode()


def test_filters_by_date_action_channel_and_text(
    web: Client, org_a: Organization, member: User
) -> None:
    web.post("/teams/create/", {"name": "Alpha"})
    today = timezone.now().date().isoformat()
    assert "Alpha" in _page(web, since=today, until=today, action="create", q="alp")
    assert "Alpha" not in _page(web, until="2020-01-01")
    assert "Alpha" not in _page(web, action="delete")
    assert "Alpha" in _page(web, channel="web") and "Alpha" not in _page(web, channel="api")
    member = User.objects.get(organization=org_a, email="member@a.example")
    web.post(f"/members/{member.pk}/role/", {"role": Role.STAKEHOLDER})
    found = _page(web, q="stakeholder")  # a changed value
    assert "member@a.example" in found and "Alpha" not in found


def test_pages_are_fifty_newest_first(web: Client, org_a: Organization, owner: User) -> None:
    for n in range(55):
        core.team_create(organization=org_a, name=f"T{n:02d}", by=owner)
    first = _page(web, kind="opsduty.team")
    assert "T54" in first and "T04" not in first and 'rel="next"' in first
    assert first.index("T54") < first.index("T53")


# --- the hot path and a deleted person ---------------------------------------------------------


def test_ingesting_and_escalating_write_no_entry(
    client: Client, org_a: Organization, service: Service, team: Team, member: User
) -> None:
    policy: EscalationPolicy = policy_create(team=team, by=None, name="Default")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=1)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[member])
    service_set_policy(service=service, policy=policy, by=None)
    webhook = Webhook.objects.create(organization=org_a, name="Alertmanager")
    before = _entries(org_a)
    for n in range(3):
        body = json.dumps({"title": f"Disk full {n}", "dedup_id": f"disk-{n}"})
        url = f"/integrations/webhooks/enque/event/{webhook.key}/{service.routing_key}"
        assert client.post(url, body, content_type="application/json").status_code == 202
    assert drain.raw_events_drain(linger=0) == 3
    assert Incident.objects.count() == 3
    later = timezone.now() + timedelta(minutes=5)
    for run in EscalationRun.objects.all():
        engine.run_fire(run_id=run.pk, now=later)
    assert _entries(org_a) == before


def test_a_deleted_persons_data_leaves_the_entries(
    web: Client, org_a: Organization, team: Team, owner: User
) -> None:
    zed = core.user_create(
        organization=org_a,
        email="zed.person@a.example",
        password=None,
        first_name="Zedediah",
        last_name="Quarrington",
        phone_number="+15550109",
    )
    core.team_add_member(team=team, user=zed, by=owner)
    web.post(f"/members/{zed.pk}/role/", {"role": Role.STAKEHOLDER})
    with acting(actor=zed, channel=AuditChannel.WEB):
        core.user_update_profile(
            user=zed, first_name="Zedediah", last_name="Quarrington-Smith", phone_number="+15550110"
        )
    count = _entries(org_a)
    response = web.post(f"/members/{zed.pk}/delete/", {"confirm": "yes"})
    assert response.status_code == 302
    assert _entries(org_a) > count  # the entries stay, and the deletion is one more
    _page(web)  # shows (and so drops) the flash messages, which name the person
    everything = json.dumps(_csv(web)) + _page(web)
    for personal in ("zed.person", "Zedediah", "Quarrington", "+15550109", "+15550110"):
        assert personal.lower() not in everything.lower()
    assert "a deleted user" in everything
    own = AuditLogEntry.objects.filter(content_type__model="user", object_id=zed.pk)
    assert own.count() >= 3 and all(e.object_repr == "a deleted user" for e in own)
