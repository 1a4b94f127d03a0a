"""Status pages' domain (statuspages/services.py, selectors.py, tasks.py): ordering, deleting
groups, component status and syncing, notices, scheduled updates, planned maintenance,
postmortems and their draft, uptime."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from incidents.models import IncidentNote
from incidents.services import incident_acknowledge, incident_resolve
from opsduty.models import Organization, User
from statuspages import selectors, services, tasks
from statuspages.markdown import markdown_html
from statuspages.models import (
    Component,
    ComponentGroup,
    ComponentPeriod,
    Notice,
    NoticeUpdate,
    StatusPage,
)
from statuspages.uptime import UPTIME_DAYS
from tests import factories
from tests.statuspages.conftest import START, PageWorld, page_world


def _orders(page: StatusPage) -> list[tuple[str, int]]:
    return list(
        ComponentGroup.objects.filter(status_page=page)
        .order_by("order")
        .values_list("name", "order")
    )


def _shown(component: Component) -> str:
    return Component.objects.get(pk=component.pk).shown_status


def _at(minutes: float) -> time_machine.travel:
    return time_machine.travel(START + timedelta(minutes=minutes), tick=False)


@pytest.mark.django_db
def test_groups_are_added_at_the_bottom_and_moves_keep_orders_contiguous(
    world: PageWorld,
) -> None:
    ops = services.component_group_create(page=world.page, by=None, name="Ops")
    assert ops.order == 2
    assert _orders(world.page) == [("Platform", 0), ("Payments", 1), ("Ops", 2)]
    moved = services.component_group_move(group=ops, by=None, movement="top")
    assert moved.order == 0
    assert _orders(world.page) == [("Ops", 0), ("Platform", 1), ("Payments", 2)]
    services.component_group_move(group=world.platform, by=None, movement="down")
    assert _orders(world.page) == [("Ops", 0), ("Payments", 1), ("Platform", 2)]
    services.component_group_move(group=world.payments, by=None, movement="up")
    assert _orders(world.page) == [("Payments", 0), ("Ops", 1), ("Platform", 2)]
    services.component_group_move(group=world.payments, by=None, movement="bottom")
    assert _orders(world.page) == [("Ops", 0), ("Platform", 1), ("Payments", 2)]


@pytest.mark.django_db
def test_moving_past_an_end_stays_put(world: PageWorld) -> None:
    assert services.component_group_move(group=world.platform, by=None, movement="up").order == 0
    assert services.component_group_move(group=world.payments, by=None, movement="down").order == 1
    assert _orders(world.page) == [("Platform", 0), ("Payments", 1)]
    with pytest.raises(ValidationError):
        services.component_group_move(group=world.payments, by=None, movement="sideways")


@pytest.mark.django_db
def test_deleting_a_group_deletes_its_components_and_notices_stop_listing_them(
    world: PageWorld,
) -> None:
    ops = services.component_group_create(page=world.page, by=None, name="Ops")
    notice = services.notice_declare(
        page=world.page,
        by=None,
        title="Errors",
        component_ids=[world.api_component.pk, world.checkout_component.pk],
    )
    version = StatusPage.objects.get(pk=world.page.pk).version
    services.component_group_delete(group=world.platform, by=None)
    assert not Component.objects.filter(pk__in=[world.api_component.pk, world.web_component.pk])
    assert list(notice.components.values_list("pk", flat=True)) == [world.checkout_component.pk]
    assert _orders(world.page) == [("Payments", 0), ("Ops", 1)]
    assert ops.pk in {g.pk for g in ComponentGroup.objects.all()}
    assert StatusPage.objects.get(pk=world.page.pk).version > version


@pytest.mark.django_db
def test_components_are_added_at_the_end_and_move_within_their_group(world: PageWorld) -> None:
    db = services.component_create(group=world.platform, by=None, name="Database")
    assert db.position == 2
    services.component_move(component=db, by=None, movement="top")
    names = list(selectors.component_list(page=world.page).values_list("name", flat=True))
    assert names == ["Database", "API", "Web", "Checkout"]
    services.component_delete(component=world.api_component, by=None)
    positions = list(
        Component.objects.filter(group=world.platform)
        .order_by("position")
        .values_list("name", "position")
    )
    assert positions == [("Database", 0), ("Web", 1)]


@pytest.mark.django_db
def test_a_new_component_opens_its_first_period(world: PageWorld) -> None:
    periods = ComponentPeriod.objects.filter(component=world.web_component)
    assert list(periods.values_list("status", "started_at", "ended_at")) == [
        ("operational", START, None)
    ]


@pytest.mark.django_db
def test_components_link_only_services_of_the_same_organization(
    world: PageWorld, org_b: Organization
) -> None:
    foreign = factories.make_service(organization=org_b, name="Theirs")
    with pytest.raises(ValidationError):
        services.component_create(group=world.platform, by=None, name="X", services=[foreign])
    with pytest.raises(ValidationError):
        services.component_update(
            component=world.web_component, by=None, name="Web", services=[foreign.pk]
        )
    services.component_update(
        component=world.web_component, by=None, name="Web", services=[world.api.pk]
    )
    assert list(world.web_component.services.all()) == [world.api]


@pytest.mark.django_db
def test_owners_and_team_members_manage_others_only_read(
    world: PageWorld, owner: User, member: User, stakeholder: User, org_a: Organization
) -> None:
    with pytest.raises(PermissionDenied):
        services.component_group_create(page=world.page, by=member, name="No")
    with pytest.raises(PermissionDenied):
        services.component_status_set(
            component=world.api_component, by=stakeholder, status="major_outage"
        )
    factories.add_member(world.team, member)
    services.component_group_create(page=world.page, by=member, name="Yes")
    services.component_group_create(page=world.page, by=owner, name="Also")
    assert selectors.status_page_list(user=stakeholder).get() == world.page
    assert not selectors.status_page_manageable(user=stakeholder).exists()
    assert selectors.status_page_manageable(user=member).get() == world.page


@pytest.mark.django_db
def test_a_synced_notice_wins_over_the_manual_status_until_it_closes(world: PageWorld) -> None:
    with _at(1):
        services.component_status_set(
            component=world.web_component, by=None, status="degraded_performance"
        )
    assert _shown(world.web_component) == "degraded_performance"
    with _at(2):
        notice = services.notice_declare(
            page=world.page,
            by=None,
            title="Outage",
            impact="critical",
            component_ids=[world.web_component.pk, world.api_component.pk],
            sync_component_status=True,
        )
    assert _shown(world.web_component) == _shown(world.api_component) == "major_outage"
    with _at(3):
        shown = services.component_status_set(
            component=world.api_component, by=None, status="partial_outage"
        )
    assert (shown.manual_status, shown.shown_status) == ("partial_outage", "major_outage")
    with _at(4):
        services.notice_update_post(notice=notice, by=None, body="Fixed", status="resolved")
    # Closed: each shows its manual status again (S8).
    assert _shown(world.web_component) == "degraded_performance"
    assert _shown(world.api_component) == "partial_outage"
    notice.refresh_from_db()
    assert notice.resolved_at == START + timedelta(minutes=4)
    assert notice.duration_seconds == 120


@pytest.mark.django_db
def test_an_unsynced_notice_leaves_the_components_alone(world: PageWorld) -> None:
    services.notice_declare(
        page=world.page,
        by=None,
        title="Slow",
        impact="major",
        component_ids=[world.api_component.pk],
    )
    assert _shown(world.api_component) == "operational"


@pytest.mark.django_db
def test_the_worst_of_two_synced_notices_shows(world: PageWorld) -> None:
    ids = [world.api_component.pk]
    minor = services.notice_declare(
        page=world.page, by=None, title="a", impact="minor", component_ids=ids,
        sync_component_status=True,
    )  # fmt: skip
    major = services.notice_declare(
        page=world.page, by=None, title="b", impact="major", component_ids=ids,
        sync_component_status=True,
    )  # fmt: skip
    assert _shown(world.api_component) == "partial_outage"
    services.notice_update_post(notice=major, by=None, body="ok", status="resolved")
    assert _shown(world.api_component) == "degraded_performance"
    services.notice_update_post(notice=minor, by=None, body="ok", status="resolved")
    assert _shown(world.api_component) == "operational"


@pytest.mark.django_db
def test_a_draft_shows_nothing_until_published_and_is_dated_from_publication(
    world: PageWorld,
) -> None:
    with _at(1):
        draft = services.notice_declare(
            page=world.page, by=None, title="Soon", impact="critical", published=False,
            component_ids=[world.api_component.pk], sync_component_status=True,
        )  # fmt: skip
    assert draft.draft and _shown(world.api_component) == "operational"
    update = NoticeUpdate.objects.get(notice=draft)
    assert (update.visible, update.published_at) == (False, None)
    with pytest.raises(ValidationError):
        services.notice_update_post(notice=draft, by=None, body="x")
    with _at(10):
        published = services.notice_publish(notice=draft, by=None)
    assert (published.draft, published.created_at) == (False, START + timedelta(minutes=10))
    assert _shown(world.api_component) == "major_outage"
    update.refresh_from_db()
    assert (update.visible, update.published_at) == (True, START + timedelta(minutes=10))
    with _at(20):
        again = services.notice_publish(notice=published, by=None)
    assert again.created_at == START + timedelta(minutes=10)


@pytest.mark.django_db
def test_declaring_from_an_incident_derives_components_and_notes_the_incident(
    world: PageWorld,
) -> None:
    incident = factories.make_incident(service=world.checkout, summary="Payments failing")
    notice = services.notice_declare(
        page=world.page,
        by=None,
        title="Checkout errors",
        body="We are on it",
        incident=incident,
        derive_affected_components=True,
    )
    assert list(notice.components.all()) == [world.checkout_component]
    note = IncidentNote.objects.get(incident=incident)
    assert "Customers were told" in note.text and "Checkout errors" in note.text
    opening = NoticeUpdate.objects.get(notice=notice)
    assert (opening.body, opening.status, opening.visible) == (
        "We are on it",
        "investigating",
        True,
    )


@pytest.mark.django_db
def test_declaring_refuses_foreign_components_and_deriving_without_an_incident(
    world: PageWorld, org_a: Organization
) -> None:
    other = page_world(org_a.__class__.objects.create(domain="other-a", name="Other"))
    with pytest.raises(ValidationError):
        services.notice_declare(
            page=world.page, by=None, title="x", component_ids=[other.api_component.pk]
        )
    with pytest.raises(ValidationError):
        services.notice_declare(
            page=world.page, by=None, title="x", derive_affected_components=True
        )
    with pytest.raises(ValidationError):
        services.notice_declare(page=world.page, by=None, title="x", status="bogus")


@pytest.mark.django_db
def test_monitoring_and_resolved_stamp_their_times(world: PageWorld) -> None:
    with _at(0):
        notice = services.notice_declare(page=world.page, by=None, title="x")
    with _at(5):
        update = services.notice_update_post(notice=notice, by=None, body="m", status="monitoring")
    assert update.status == "monitoring" and update.published_at == START + timedelta(minutes=5)
    with _at(7):
        services.notice_update_post(notice=notice, by=None, body="r", status="resolved")
    notice.refresh_from_db()
    assert notice.monitoring_at == START + timedelta(minutes=5)
    assert (notice.resolved_at, notice.duration_seconds) == (START + timedelta(minutes=7), 420)


@pytest.mark.django_db
def test_a_scheduled_update_waits_and_is_applied_exactly_once(world: PageWorld) -> None:
    with _at(0):
        notice = services.notice_declare(
            page=world.page, by=None, title="x", impact="major",
            component_ids=[world.api_component.pk], sync_component_status=True,
        )  # fmt: skip
        update = services.notice_update_post(
            notice=notice, by=None, body="Fixed", status="resolved",
            display_at=START + timedelta(minutes=30),
        )  # fmt: skip
    assert (update.visible, update.published_at, update.status) == (False, None, "investigating")
    with _at(29):
        assert services.notice_update_apply(update_id=update.pk) is False
        assert tasks.sweep() == 0
    assert Notice.objects.get(pk=notice.pk).status == "investigating"
    assert _shown(world.api_component) == "partial_outage"
    with _at(31):
        assert tasks.sweep() == 1
        assert tasks.notice_update_apply(update.pk) is False  # the late ETA task: a no-op
        assert tasks.sweep() == 0
    update.refresh_from_db()
    assert (update.visible, update.status) == (True, "resolved")
    assert update.published_at == START + timedelta(minutes=31)
    notice.refresh_from_db()
    assert (notice.status, notice.resolved_at) == ("resolved", START + timedelta(minutes=31))
    assert _shown(world.api_component) == "operational"


@pytest.mark.django_db
def test_a_past_display_at_posts_at_once(world: PageWorld) -> None:
    with _at(10):
        notice = services.notice_declare(page=world.page, by=None, title="x")
        update = services.notice_update_post(
            notice=notice, by=None, body="b", status="identified", display_at=START
        )
    assert (update.visible, update.status) == (True, "identified")


@pytest.mark.django_db
def test_planned_maintenance_moves_by_itself_and_shows_under_maintenance(
    world: PageWorld,
) -> None:
    with _at(0):
        notice = services.notice_declare(
            page=world.page, by=None, title="DB upgrade", status="scheduled",
            impact="maintenance", component_ids=[world.api_component.pk],
            sync_component_status=True, scheduled_start=START + timedelta(hours=1),
            scheduled_end=START + timedelta(hours=2),
        )  # fmt: skip
    assert notice.due_at == START + timedelta(hours=1)
    assert _shown(world.api_component) == "operational"
    with _at(59):
        assert tasks.sweep() == 0
    with _at(61):
        assert tasks.notice_advance(notice.pk) is True
        assert tasks.sweep() == 0
    notice.refresh_from_db()
    assert (notice.status, notice.due_at) == ("in_progress", START + timedelta(hours=2))
    assert _shown(world.api_component) == "under_maintenance"
    with _at(125):
        assert tasks.sweep() == 1
        assert tasks.notice_advance(notice.pk) is False
    notice = Notice.objects.get(pk=notice.pk)
    assert (notice.status, notice.due_at) == ("completed", None)
    assert notice.resolved_at == START + timedelta(minutes=125)
    assert _shown(world.api_component) == "operational"
    bodies = list(
        NoticeUpdate.objects.filter(notice=notice).order_by("pk").values_list("status", flat=True)
    )
    assert bodies == ["scheduled", "in_progress", "completed"]


@pytest.mark.django_db
def test_uptime_counts_downtime_to_the_second_but_not_maintenance_nor_before_creation(
    world: PageWorld,
) -> None:
    component = world.api_component  # created at START: the 90 days before are not downtime
    with _at(60):
        services.component_status_set(component=component, by=None, status="partial_outage")
    with time_machine.travel(START + timedelta(minutes=60, seconds=1234), tick=False):
        services.component_status_set(component=component, by=None, status="under_maintenance")
    with _at(600):
        services.component_status_set(component=component, by=None, status="operational")
    now = START + timedelta(days=3)
    [(first, figure), *_] = selectors.page_uptime(page=world.page, now=now)
    assert first == component
    window = UPTIME_DAYS * 86400
    assert figure.downtime_seconds == 1234
    assert figure.percent == pytest.approx(100 * (window - 1234) / window, abs=1e-12)
    web = dict((c.pk, u) for c, u in selectors.page_uptime(page=world.page, now=now))
    assert web[world.web_component.pk].percent == 100.0


@pytest.mark.django_db
def test_postmortem_publish_stamps_and_notes_the_incident_once(world: PageWorld) -> None:
    incident = factories.make_incident(service=world.api)
    notice = services.notice_declare(page=world.page, by=None, title="x", incident=incident)
    with _at(10):
        draft = services.postmortem_write(notice=notice, by=None, body="# PM")
    assert (draft.published, draft.published_at) == (False, None)
    with _at(20):
        published = services.postmortem_write(notice=notice, by=None, body="# PM", published=True)
    assert published.published_at == START + timedelta(minutes=20)
    with _at(30):
        again = services.postmortem_write(notice=notice, by=None, body="# PM2", published=True)
    assert again.published_at == START + timedelta(minutes=20) and again.pk == draft.pk
    services.postmortem_write(notice=notice, by=None, body="# PM2", published=False)
    with _at(40):
        back = services.postmortem_write(notice=notice, by=None, body="# PM3", published=True)
    assert back.published_at == START + timedelta(minutes=40)
    notes = [n.text for n in IncidentNote.objects.filter(incident=incident)]
    assert sum("postmortem" in text for text in notes) == 1


@pytest.mark.django_db
def test_postmortem_draft_tells_times_components_paging_and_updates(
    world: PageWorld, owner: User
) -> None:
    factories.add_member(world.team, owner)
    with _at(0):
        incident = factories.make_incident(service=world.api, summary="5xx on API")
        factories.make_responder(incident=incident, user=owner)
    with _at(2):
        notice = services.notice_declare(
            page=world.page, by=None, title="API errors", body="Looking into it",
            impact="major", incident=incident, derive_affected_components=True,
            sync_component_status=True,
        )  # fmt: skip
    with _at(3):
        incident_acknowledge(incident=incident, by=owner)
    with _at(32):
        services.notice_update_post(
            notice=notice, by=None, body="Fix *deployed*", status="resolved"
        )
        incident_resolve(incident=incident, by=owner)
    with _at(40):
        body = selectors.postmortem_draft(notice=Notice.objects.get(pk=notice.pk))
    assert "# Postmortem: API errors" in body
    assert "- Started: 2027-03-01 12:02:00 UTC" in body
    assert "- Ended: 2027-03-01 12:32:00 UTC" in body
    assert "- Duration: 30 min" in body
    assert "| API | 30 min | partial outage 30 min |" in body
    assert f"- Paged {owner.get_full_name()} at 2027-03-01 12:00:00 UTC" in body
    assert "(time to acknowledge: 3 min)" in body
    assert "(time to resolve: 32 min)" in body
    assert "> Looking into it" in body and "> Fix *deployed*" in body
    assert not selectors.postmortem_get(notice=notice)  # nothing saved


@pytest.mark.django_db
def test_markdown_in_names_and_bodies_renders_harmless(world: PageWorld) -> None:
    services.component_update(
        component=world.api_component, by=None, name="<img src=x onerror=alert(1)>"
    )
    notice = services.notice_declare(
        page=world.page,
        by=None,
        title="[click](javascript:alert(1)) <script>alert(2)</script>",
        body="<script>alert(3)</script>\n\n[x](javascript:alert(4))",
        component_ids=[world.api_component.pk],
    )
    html = markdown_html(selectors.postmortem_draft(notice=notice))
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered
    assert 'href="javascript' not in lowered
    assert "&lt;script&gt;" in html  # shown as the text it is
