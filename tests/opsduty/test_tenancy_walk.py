"""Invariant 1 (tenancy): every URL pattern that takes an id answers 404 for another
organization's id, for every method, and leaves the foreign object untouched.

New URL kwargs must be registered in OBJECT_MAKERS, so a new endpoint cannot skip this test.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any, cast

import pytest
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from oauth2_provider.models import Application

from escalations.models import EscalationPolicy as EscalationPolicyModel
from escalations.models import Schedule, StepKind
from escalations.policies.services import policy_create, step_add
from escalations.schedules import services as schedule_services
from integrations.twilio.models import CallDestination, TwilioAccount, TwilioNumber
from opsduty.models import Invitation, Organization, Role, Service, Team, User
from opsduty.services import api_token_issue, invitation_create
from processing.models import RoutingRule
from processing.routing.services import (
    OrchestrationFields,
    orchestration_create,
    route_create,
    routing_rule_create,
)
from signals.heartbeats import services as heartbeats
from signals.heartbeats.models import Heartbeat
from signals.models import IncidentReference, RawEventStatus
from statuspages import services as statuspages
from statuspages.models import ComponentGroup, StatusPage
from tests import factories
from tests.conftest import api_client_for
from tests.heartbeat_factories import make_heartbeat, make_state

# Operator or protocol surfaces that are not tenant pages. The webhook receiver
# (`integrations/`) authenticates by the unguessable key in its URL, not by a session: whoever
# holds the key may post, so "another organization's id" does not apply; its own tenancy test
# (another organization's routing key answers 404) is in tests/signals/test_receive.py.
# Calendar feeds (`calendar/<token>.ics`) likewise take no session: the token is the
# credential; tests/escalations/test_feeds.py checks that a token shows only its own
# organization's (and its own user's) shifts. The public heartbeat check-in
# (`heartbeats/checkin/<key>/`) is the same kind of surface: its key only reaches its own
# heartbeat (tests/signals/test_heartbeat_checkin_urls.py). The development phone
# (`dev/phone/calls/<call_sid>/`) names calls of the fake Twilio, off outside `make run`; its
# tenancy test (another organization's call answers 404) is in
# tests/integrations/twilio/test_devphone.py. Twilio's own requests (`integrations/twilio/`)
# are signed: tests/integrations/twilio/ check another organization's ids there. The Slack
# account link (`slack/link/<token>/`) is a single-use credential made in one organization's
# workspace: another organization's person gets a 403 page saying so, and nothing is linked
# (tests/integrations/slack/test_linking.py). An invitation's link (`invitations/<token>/`)
# is the credential, for someone who is not signed in yet; it only ever joins its own
# organization (tests/opsduty/test_invitations.py); an address change's link
# (`email-change/<token>/`) likewise changes only its own person's address. The SCIM API
# (`scim/v2/`) takes no session or OAuth token but its organization's SCIM bearer token:
# tests/integrations/scim/test_tenancy.py sends one organization's token to the other's
# Users and Groups with every method. The SSO protocol endpoints (`accounts/`,
# integrations/sso) name an organization by its domain for people not signed in yet; an
# IdP's signed answer posted to another organization's ACS is refused
# (tests/integrations/sso/test_saml.py, test_google.py). Public status pages (`status/<slug>/`)
# are read by anyone the page's access mode lets in, by slug, not by a session's
# organization: a notice id of another page or organization answers 404 there, and a page's
# custom domain never serves another's (tests/statuspages/test_public_page.py,
# test_public_access.py).
SKIPPED_PREFIXES = (
    "scim/v2/",
    "accounts/",
    "slack/link/",
    "invitations/",
    "email-change/",
    "dev/phone/",
    "admin/",
    "oauth2/",
    "static/",
    "integrations/",
    "calendar/",
    "heartbeats/checkin/",
    "status/",
)
METHODS = ("get", "post", "put", "patch", "delete")


def _team(org: Organization, user: User) -> models.Model:
    team = factories.make_team(organization=org)
    factories.add_member(team, user)
    return team


def _user(org: Organization, user: User) -> models.Model:
    return factories.make_user(organization=org, role=Role.MEMBER)


def _application(org: Organization, user: User) -> models.Model:
    application: models.Model = Application.objects.create(
        name="walk app",
        user=user,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://example.test/cb",
    )
    return application


def _api_token(org: Organization, user: User) -> models.Model:
    return api_token_issue(user=user, name="walk token").token


def _service_of_team(org: Organization, user: User) -> Service:
    team = factories.make_team(organization=org)
    factories.add_member(team, user)
    return factories.make_service(team=team)


def _incident_on_service(org: Organization, user: User) -> models.Model:
    return factories.make_incident(service=_service_of_team(org, user))


def _receive_channel(org: Organization, user: User) -> models.Model:
    return factories.make_receive_channel(organization=org)


class _ReferenceByPublicId:
    """An IncidentReference as its URL addresses it: `pk` is the public id (a UUID string)."""

    class _default_manager:  # noqa: N801 - stands in for Model._default_manager in the walk
        @staticmethod
        def filter(pk: str) -> models.QuerySet[IncidentReference]:
            return IncidentReference.objects.filter(public_id=pk)

    def __init__(self, reference: IncidentReference) -> None:
        self.pk = str(reference.public_id)


def _incident_reference(org: Organization, user: User) -> models.Model:
    """A completed reference whose incident `user` can see, addressed by its public id."""
    reference = factories.make_reference(organization=org)
    factories.make_incident(service=_service_of_team(org, user), reference=reference)
    return cast(models.Model, _ReferenceByPublicId(reference))


def _routing_rule(org: Organization, user: User) -> models.Model:
    service = _service_of_team(org, user)
    return routing_rule_create(
        team=service.team, by=user, name=f"walk rule {service.pk}", default_service=service
    )


def _route(org: Organization, user: User) -> models.Model:
    rule = _routing_rule(org, user)
    assert isinstance(rule, RoutingRule)
    return route_create(rule=rule, by=user, service=rule.default_service)


def _orchestration(org: Organization, user: User) -> models.Model:
    service = _service_of_team(org, user)
    return orchestration_create(service=service, by=user, fields=OrchestrationFields(name="walk"))


def _policy(org: Organization, user: User) -> models.Model:
    service = _service_of_team(org, user)
    return policy_create(team=service.team, by=user, name=f"walk policy {service.pk}")


def _step(org: Organization, user: User) -> models.Model:
    policy = _policy(org, user)
    assert isinstance(policy, EscalationPolicyModel)
    return step_add(policy=policy, by=user, kind=StepKind.WAIT, wait_minutes=5)


def _schedule(org: Organization, user: User) -> Schedule:
    team = factories.make_team(organization=org)
    factories.add_member(team, user)
    return schedule_services.schedule_create(team=team, by=user, name=f"walk schedule {team.pk}")


def _layer(org: Organization, user: User) -> models.Model:
    schedule = _schedule(org, user)
    start = (timezone.now() + timedelta(days=7)).date()
    data = schedule_services.LayerInput(
        name="walk layer",
        rotation="rolling",
        groups=[[user]],
        frequency="daily",
        start_date=start,
        handoff_time=time(9, 0),
        shift_minutes=60,
    )
    return schedule_services.layer_create(schedule=schedule, by=user, data=data)


def _override(org: Organization, user: User) -> models.Model:
    schedule = _schedule(org, user)
    start = timezone.now() + timedelta(days=1)
    return schedule_services.override_create(
        schedule=schedule, by=user, user=user, start=start, end=start + timedelta(hours=1)
    )


def _webhook(org: Organization, user: User) -> models.Model:
    return factories.make_webhook(organization=org)


def _raw_event(org: Organization, user: User) -> models.Model:
    """A failed raw event (the one state a replay accepts), of a webhook of `org`."""
    webhook = factories.make_webhook(organization=org)
    return factories.make_raw_event(
        organization=org, webhook=webhook, status=RawEventStatus.FAILED, error="boom"
    )


def _heartbeat(org: Organization, user: User) -> Heartbeat:
    service = _service_of_team(org, user)
    return heartbeats.heartbeat_create(
        service=service, by=user, name=f"walk heartbeat {service.pk}"
    )


def _heartbeat_state(org: Organization, user: User) -> models.Model:
    heartbeat = _heartbeat(org, user)
    data = heartbeats.StateInput(type="interval", interval_seconds=60)
    heartbeats.state_create(heartbeat=heartbeat, by=user, environment="prod", data=data)
    # A second environment, so "copy settings" and "delete" have something to act on.
    return heartbeats.state_create(heartbeat=heartbeat, by=user, environment="dev", data=data)


def _twilio_number(org: Organization, user: User) -> TwilioNumber:
    account, _ = TwilioAccount.objects.get_or_create(
        organization=org,
        defaults={"account_sid": "AC" + "0" * 32, "auth_token": "t" * 32, "auth_token_hint": "…"},
    )
    serial = TwilioNumber.objects.count() + 10
    return TwilioNumber.objects.create(
        organization=org, account=account, sid=f"PN{serial:032d}", phone_number=f"+1555010{serial}"
    )


def _invitation(org: Organization, user: User) -> Invitation:
    owner = factories.make_user(organization=org, role=Role.OWNER)
    return invitation_create(
        organization=org,
        email=f"invited-{org.pk}@example.com",
        role=Role.MEMBER,
        teams=[],
        by=owner,
    )


def _label(org: Organization, user: User) -> models.Model:
    return factories.make_label(organization=org, name=f"walk-{org.pk}")


def _call_destination(org: Organization, user: User) -> CallDestination:
    service = _service_of_team(org, user)
    return CallDestination.objects.create(
        organization=org, number=_twilio_number(org, user), digit=1, service=service
    )


def _checkin_by_name(org: Organization, user: User) -> tuple[dict[str, object], list[models.Model]]:
    """#9: the service id, heartbeat name and environment of one state, which only make
    sense together."""
    service = _service_of_team(org, user)
    state = make_state(heartbeat=make_heartbeat(service=service, name="walk-job"))
    return {"service_id": service.pk, "name": "walk-job", "environment": "prod"}, [state]


_pages = itertools.count(1)


def _status_page(org: Organization, user: User) -> models.Model:
    team = factories.make_team(organization=org)
    return statuspages.status_page_create(
        organization=org, team=team, by=None, name="Walk", slug=f"walk-{next(_pages)}"
    )


def _component_group(org: Organization, user: User) -> models.Model:
    page = _status_page(org, user)
    assert isinstance(page, StatusPage)
    return statuspages.component_group_create(page=page, by=None, name="Walk group")


def _component(org: Organization, user: User) -> models.Model:
    group = _component_group(org, user)
    assert isinstance(group, ComponentGroup)
    return statuspages.component_create(group=group, by=None, name="Walk component")


def _notice(org: Organization, user: User) -> tuple[dict[str, object], list[models.Model]]:
    """A status-page incident: its id is the route's `incident_id` (not an operational one)."""
    page = _status_page(org, user)
    assert isinstance(page, StatusPage)
    notice = statuspages.notice_declare(page=page, by=None, title="Walk notice", published=False)
    return {"incident_id": notice.pk}, [notice]


def _notice_row(org: Organization, user: User) -> models.Model:
    """A status-page incident, for the team's pages (`notice_id`)."""
    return _notice(org, user)[1][0]


# kwarg name -> makes an object of the given organization (owned by / visible to `user`).
OBJECT_MAKERS: dict[str, Callable[[Organization, User], models.Model]] = {
    "team_id": _team,
    "user_id": _user,
    "application_id": _application,
    "token_id": _api_token,
    "service_id": _service_of_team,
    "incident_id": _incident_on_service,
    "incident_group_id": _incident_on_service,
    "incident_reference_id": _incident_reference,
    "routing_rule_id": _routing_rule,
    "route_id": _route,
    "orchestration_id": _orchestration,
    "policy_id": _policy,
    "step_id": _step,
    "channel_id": _receive_channel,
    "schedule_id": _schedule,
    "layer_id": _layer,
    "override_id": _override,
    "webhook_id": _webhook,
    "raw_event_id": _raw_event,
    "heartbeat_id": _heartbeat,
    "heartbeat_state_id": _heartbeat_state,
    "number_id": _twilio_number,
    "destination_id": _call_destination,
    "invitation_id": _invitation,
    "label_id": _label,
    "status_page_id": _status_page,
    "component_group_id": _component_group,
    "component_id": _component,
    "notice_id": _notice_row,
}

# Routes whose URL values only make sense together: route -> (URL values, objects made).
ROUTE_MAKERS: dict[
    str, Callable[[Organization, User], tuple[dict[str, object], list[models.Model]]]
] = {
    "api/v1/heartbeats/checkin/<int:service_id>/<path:name>/<str:environment>": _checkin_by_name,
    **{
        f"api/v1/statuspages/incidents/<int:incident_id>/{tail}": _notice
        for tail in ("publish/", "updates/", "postmortem/", "postmortem/draft/")
    },
}


@dataclass
class Route:
    route: str
    kwargs: list[str]

    def url(self, ids: dict[str, object]) -> str:
        def replace(match: re.Match[str]) -> str:
            return str(ids[match.group(2)])

        return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", replace, self.route)


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[Route]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        else:
            kwargs = re.findall(r"<(?:\w+:)?(\w+)>", route)
            if kwargs and not route.startswith(SKIPPED_PREFIXES):
                yield Route(route, kwargs)


def id_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def test_every_id_kwarg_has_an_object_maker() -> None:
    kwargs = {k for r in id_routes() if r.route not in ROUTE_MAKERS for k in r.kwargs}
    unknown = kwargs - set(OBJECT_MAKERS)
    assert not unknown, f"register these URL kwargs in OBJECT_MAKERS: {sorted(unknown)}"
    stale = set(ROUTE_MAKERS) - {r.route for r in id_routes()}
    assert not stale, f"ROUTE_MAKERS names routes that no longer exist: {sorted(stale)}"


def _make(route: Route, org: Organization, user: User) -> tuple[dict[str, object], list[Any]]:
    """The URL values of `route` for objects of `org` visible to `user`, and those objects."""
    if route.route in ROUTE_MAKERS:
        return ROUTE_MAKERS[route.route](org, user)
    objects = {k: OBJECT_MAKERS[k](org, user) for k in route.kwargs}
    return {k: obj.pk for k, obj in objects.items()}, list(objects.values())


def test_walk_finds_the_id_routes() -> None:
    # Guards the walker itself: if it stopped finding routes, the test below would pass vacuously.
    assert any(r.route.startswith("teams/") for r in id_routes())


def _client(user: User) -> Client:
    client = api_client_for(user)
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _no_real_twilio(settings: Any) -> None:
    """Own ids reach the Twilio SDK (releasing a number): a closed loopback port, never the
    real Twilio; the views answer its silence with a message."""
    settings.OPSDUTY_TWILIO_API_URL = "http://127.0.0.1:9"


@pytest.mark.django_db
@pytest.mark.parametrize("route", id_routes(), ids=lambda r: r.route)
def test_foreign_ids_answer_404(route: Route, owner: User, outsider: User) -> None:
    foreign_ids, foreign = _make(route, outsider.organization, outsider)
    own_ids, _ = _make(route, owner.organization, owner)
    client = _client(owner)

    foreign_url = route.url(foreign_ids)
    statuses = {m: getattr(client, m)(foreign_url).status_code for m in METHODS}
    assert set(statuses.values()) <= {404, 405}, f"{foreign_url}: {statuses}"
    assert 404 in statuses.values(), f"{foreign_url}: {statuses}"
    for obj in foreign:
        assert type(obj)._default_manager.filter(pk=obj.pk).exists(), "foreign object was deleted"

    # The same route with the caller's own ids must not 404, or this test proves nothing.
    own_url = route.url(own_ids)
    own_statuses = {m: getattr(client, m)(own_url).status_code for m in ("get", "post")}
    assert set(own_statuses.values()) != {404}, f"{own_url} answers 404 for own ids: {own_statuses}"


@pytest.mark.django_db
def test_scoped_refuses_a_missing_organization() -> None:
    from opsduty.tenancy import scoped

    with pytest.raises(TypeError):
        scoped(Team, None)  # type: ignore[arg-type]
