"""Tenancy probe: every route of Django's URL resolver, as each kind of caller of
organization A, with the ids and keys of organization B's objects.

Organization B gets one of everything (the objects of the tenancy walk's OBJECT_MAKERS:
teams, users, services, incidents, policies and steps, schedules, layers, overrides,
receive channels, webhooks, raw events, routing rules, routes, orchestrations, heartbeats,
API tokens, OAuth applications, phone numbers, plus analytics facts from its incidents and a
Slack workspace with a channel), each renamed to a name that appears nowhere else. Then A's
owner, member and stakeholder (signed in) and A's API token request every route:

- a route with an id fills it with B's object: GET (and POST, PUT, PATCH, DELETE where the
  caller may act) answer 404, or 405, or 403 where the caller's role is refused first;
- every other route (lists, forms, dashboards) is read with GET, and with B's ids in the
  query string (`?service=…&team=…`), and answers below 500;

and no body ever contains B's names, keys or public ids. A route whose URL values the probe
cannot fill must be listed in UNPROBED with its reason, so a new route fails this test until
it is filled or listed. The tenancy walk (test_tenancy_walk.py) checks the same routes with
A's own ids (not 404) and that B's objects survive the mutations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from integrations.slack.models import SlackChannel, SlackWorkspace
from opsduty.models import Organization, User
from opsduty.services import api_token_issue
from signals.heartbeats.models import Heartbeat
from signals.models import Webhook
from tests.conftest import session_client_for
from tests.opsduty.test_tenancy_walk import OBJECT_MAKERS, ROUTE_MAKERS

pytestmark = pytest.mark.django_db

# Routes (by prefix) whose URL values are not another organization's ids, with the reason.
UNPROBED = {
    "admin/": "Django's admin: superusers only, not part of the product",
    "static/": "files",
    "oauth2/": "django-oauth-toolkit's own views, keyed by the signed-in user's applications",
    "integrations/": "webhook receiver and provider callbacks: the key or signature in the "
    "request is the credential (tests/signals/test_receive.py, tests/integrations/)",
    "calendar/": "calendar feeds: the token in the URL is the credential "
    "(tests/escalations/test_feeds.py)",
    "heartbeats/checkin/": "public check-in: the key is the credential "
    "(tests/signals/test_heartbeat_checkin_urls.py)",
    "^heartbeats/checkin/": "the check-in's JSON 404 for any other path under it",
    "slack/link/": "single-use Slack link token (tests/integrations/slack/test_linking.py)",
    "accounts/": "SSO protocol endpoints for people not signed in yet: the IdP's signed answer "
    "names the organization and is checked against it (tests/integrations/sso/)",
    "invitations/": "an invitation's single-use link: the token is the credential, for people "
    "not signed in yet (tests/opsduty/test_invitations.py)",
    "email-change/": "an address change's single-use link: the token is the credential "
    "(tests/opsduty/test_email_change.py)",
    "dev/phone/": "the development phone's fake Twilio calls, off outside make run "
    "(tests/integrations/twilio/test_devphone.py)",
    "api/v1/^.*$": "the API's JSON 404 for unknown paths",
    "status/": "public status pages, by slug for anyone the page's access mode lets in; another "
    "page's or organization's notice answers 404 (tests/statuspages/test_public_page.py, "
    "test_public_access.py); subscriber links carry their token as the credential "
    "(tests/statuspages/test_subscribers.py)",
    "scim/v2/": "SCIM 2.0: neither sessions nor API tokens, only the organization's SCIM bearer "
    "token (401 otherwise); one organization's token against the other's Users and Groups "
    "with every method: tests/integrations/scim/test_tenancy.py",
}
KWARG = re.compile(r"<(?:(\w+):)?(\w+)>|\(\?P<(\w+)>[^)]*\)")
MUTATIONS = ("post", "put", "patch", "delete")
# Query parameters list pages filter by; each gets B's object of the same kind.
QUERY_FILTERS = {"service": "service_id", "team": "team_id", "policy": "policy_id",
                 "schedule": "schedule_id", "user": "user_id", "incident": "incident_id",
                 "webhook": "webhook_id", "channel": "channel_id", "heartbeat": "heartbeat_id",
                 "routing_rule": "routing_rule_id"}  # fmt: skip


@dataclass(frozen=True)
class Route:
    route: str
    kwargs: tuple[str, ...]

    @property
    def api(self) -> bool:
        return self.route.startswith("api/")

    def url(self, values: dict[str, object]) -> str:
        return "/" + KWARG.sub(lambda m: str(values[m.group(2) or m.group(3)]), self.route)


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[Route]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        else:
            names = tuple(m.group(2) or m.group(3) for m in KWARG.finditer(route))
            yield Route(route, names)


def all_routes() -> list[Route]:
    return list(dict.fromkeys(_walk(get_resolver().url_patterns)))


def probed_routes() -> list[Route]:
    return [r for r in all_routes() if not r.route.startswith(tuple(UNPROBED))]


def test_every_route_is_probed_or_listed_with_a_reason() -> None:
    unfilled = {
        r.route
        for r in probed_routes()
        if r.route not in ROUTE_MAKERS and set(r.kwargs) - set(OBJECT_MAKERS)
    }
    assert not unfilled, (
        "the tenancy probe cannot fill these routes: add an object maker to "
        f"test_tenancy_walk.OBJECT_MAKERS or list them in UNPROBED with a reason: {unfilled}"
    )
    assert len(probed_routes()) > 100  # the walker still finds the routes


@dataclass
class ForeignWorld:
    ids: dict[str, object]
    route_ids: dict[str, dict[str, object]]
    needles: set[str]


def _rename(org: Organization) -> set[str]:
    """Give every named row of `org` a name found nowhere else; those names, keys and public
    ids are what must never appear in A's answers."""
    needles = {org.name, org.domain}
    for model in apps.get_models():
        fields = {f.name for f in model._meta.get_fields()}
        if "organization" not in fields:
            continue
        rows: Any = model._default_manager.filter(organization=org)
        for field in ("name", "summary", "title"):
            if field in fields and isinstance(model._meta.get_field(field), models.CharField):
                for pk in rows.values_list("pk", flat=True):
                    needle = f"Zq{model.__name__}{pk}Foreign"
                    model._default_manager.filter(pk=pk).update(**{field: needle})
                    needles.add(needle)
    for user in User.objects.filter(organization=org):
        needles.add(user.email)
        User.objects.filter(pk=user.pk).update(first_name=f"Zq{user.pk}", last_name="Outsider")
        needles.add(f"Zq{user.pk} Outsider")
    for webhook in Webhook.objects.filter(organization=org):
        needles.add(str(webhook.key))
    for heartbeat in Heartbeat.objects.filter(service__organization=org):
        needles.add(heartbeat.public_primary_key)
    for model_name in ("Service", "RoutingRule"):
        model = apps.get_model("opsduty" if model_name == "Service" else "processing", model_name)
        needles.update(model._default_manager.filter(organization=org).values_list(
            "routing_key", flat=True))  # fmt: skip
    return {n for n in needles if n and len(n) >= 6}


def _foreign_world(org: Organization, user: User) -> ForeignWorld:
    ids: dict[str, object] = {}
    needles: set[str] = set()
    for kwarg, maker in OBJECT_MAKERS.items():
        obj = maker(org, user)
        ids[kwarg] = obj.pk
        if isinstance(obj.pk, str):  # public ids (incident references)
            needles.add(obj.pk)
    route_ids = {route: maker(org, user)[0] for route, maker in ROUTE_MAKERS.items()}
    workspace = SlackWorkspace.objects.create(
        organization=org, team_id="TFOREIGN1", team_name="ZqSlackForeign", bot_token="xoxb-f"
    )
    SlackChannel.objects.create(workspace=workspace, channel_id="CFOREIGN1", name="zq-foreign")
    needles |= {"ZqSlackForeign", "zq-foreign", "TFOREIGN1", "CFOREIGN1"}
    token = api_token_issue(user=user, name="ZqForeignToken")
    needles |= {"ZqForeignToken", token.raw}
    return ForeignWorld(ids, route_ids, needles | _rename(org))


@dataclass
class Caller:
    name: str
    client: Client
    may_be_refused: bool  # 403 before the lookup is fine (its role may not use the page)
    api_only: bool = False


def _callers(owner: User, member: User, stakeholder: User) -> list[Caller]:
    issued = api_token_issue(user=owner, name="probe")
    return [
        Caller("owner", session_client_for(owner), may_be_refused=False),
        Caller("member", session_client_for(member), may_be_refused=True),
        Caller("stakeholder", session_client_for(stakeholder), may_be_refused=True),
        Caller(
            "token",
            Client(HTTP_AUTHORIZATION=f"Bearer {issued.raw}"),
            may_be_refused=False,
            api_only=True,
        ),
    ]


def _leaks(body: str, needles: set[str], url: str) -> list[str]:
    return sorted(n for n in needles if n in body and n not in url)


@pytest.fixture(autouse=True)
def _no_real_twilio(settings: Any) -> None:
    settings.OPSDUTY_TWILIO_API_URL = "http://127.0.0.1:9"


def test_foreign_ids_and_data_never_reach_another_organization(
    owner: User, member: User, stakeholder: User, outsider: User
) -> None:
    world = _foreign_world(outsider.organization, outsider)
    # The control: B's own people do see these names, so their absence below means something.
    own = session_client_for(outsider)
    seen = own.get("/services/").content.decode() + own.get("/teams/").content.decode()
    assert _leaks(seen, world.needles, "")
    callers = _callers(owner, member, stakeholder)
    problems: list[str] = []
    probed = 0
    for route in probed_routes():
        for caller in callers:
            if caller.api_only and not route.api:
                continue
            for method, url, want in _requests(route, caller, world):
                response = getattr(caller.client, method)(url)
                probed += 1
                body = response.content.decode(errors="replace") if hasattr(
                    response, "content") else ""  # fmt: skip
                leaked = _leaks(body, world.needles, url)
                status = response.status_code
                if status >= 500 or (want and status not in want) or leaked:
                    problems.append(f"{caller.name} {method.upper()} {url}: {status} {leaked}")
    assert probed > 1000
    assert not problems, "\n".join(problems)


def _requests(
    route: Route, caller: Caller, world: ForeignWorld
) -> Iterator[tuple[str, str, set[int] | None]]:
    """(method, URL, the statuses allowed or None for any below 500) to send for `route`."""
    if route.kwargs:
        values = world.route_ids.get(route.route) or {k: world.ids[k] for k in route.kwargs}
        url = route.url(values)
        allowed = {404, 405} | ({403} if caller.may_be_refused else set())
        if route.api and caller.name != "token":
            allowed |= {401, 403}  # the API may want a token, not a session
        yield "get", url, allowed
        for method in MUTATIONS if not caller.may_be_refused else ("post",):
            yield method, url, allowed
        return
    url = route.url({})
    yield "get", url, None
    if caller.name in ("owner", "token"):
        query = "&".join(f"{p}={world.ids[k]}&{p}_id={world.ids[k]}" for p, k in
                         QUERY_FILTERS.items())  # fmt: skip
        yield "get", f"{url}?{query}", None


def test_nul_in_any_url_is_a_clear_400(owner: User) -> None:
    """A `%00` in any route's text values or in the query string never reaches a query."""
    client = session_client_for(owner)
    problems = []
    for route in all_routes():
        if route.route.startswith(("admin/", "static/")) or "^" in route.route:
            continue
        url = route.url({k: "a%00b" for k in route.kwargs})
        for target in (url, route.url({k: 1 for k in route.kwargs}) + "?q=%00&service=%00"):
            response = client.get(target)
            if response.status_code >= 500 or (
                "%00" in target and response.status_code not in (400, 404)
            ):
                problems.append(f"GET {target}: {response.status_code}")
    assert not problems, "\n".join(problems)
