"""/healthz, the seed command, and a real Celery worker running a core task."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from incidents.ingest import drain as signal_services
from incidents.views.timeline import processing_summary
from opsduty.models import Organization, Role, Service, Team, User
from opsduty.tasks import sessions_clear_expired
from processing.models import RoutingRule
from signals.models import RawEvent, RawEventStatus, Webhook
from signals.receiver import ingest
from tests.waiting import wait_until


def test_healthz_answers_while_the_process_runs(client: Client) -> None:
    """Liveness only since the readiness checks moved to /readyz (test_health_probes.py)."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_seed_demo_builds_the_demo_org_idempotently(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("seed_demo")
    call_command("seed_demo")
    assert "opsduty-demo" in capsys.readouterr().out
    org = Organization.objects.get(domain="demo")
    assert org.name == "Demo Inc."
    roles = dict(User.objects.for_org(org).values_list("email", "role"))
    assert roles == {
        "owner@demo.example": Role.OWNER,
        "alice@demo.example": Role.MEMBER,
        "bob@demo.example": Role.MEMBER,
        "carol@demo.example": Role.STAKEHOLDER,
    }
    teams = {t.name: sorted(u.email for u in t.members.all()) for t in Team.objects.for_org(org)}
    assert teams == {
        "Platform": ["alice@demo.example", "bob@demo.example", "owner@demo.example"],
        "Payments": ["alice@demo.example", "carol@demo.example"],
    }
    owner = User.objects.get(organization=org, email="owner@demo.example")
    assert owner.check_password("opsduty-demo")
    _assert_demo_policies(org)
    people = User.objects.for_org(org)
    assert all(u.phone_number.startswith("+1212555") and u.phone_verified for u in people)


DEMO_WEBHOOKS = {
    "Alertmanager": ("00000000-0000-4000-8000-00000000a1e7", "alertmanager"),
    "Generic": ("00000000-0000-4000-8000-000000000e0e", "generic"),
    "Sentry": ("00000000-0000-4000-8000-000000005e01", "sentry"),
    "Checkly": ("00000000-0000-4000-8000-00000000c4e1", "checkly"),
    "Dead Man's Snitch": ("00000000-0000-4000-8000-00000000d005", "deadmanssnitch"),
}
ROOT = Path(__file__).resolve().parent.parent.parent
AM_FIRING = ROOT / "tests" / "fixtures" / "receive_channels" / "alertmanager" / "firing.json"


@pytest.mark.django_db
def test_seed_demo_routes_an_alertmanager_alert_to_checkout(client: Client) -> None:
    """The DEMO.md webhooks and "Demo router" exist once; docs/webhooks.md's curl works."""
    call_command("seed_demo")
    call_command("seed_demo")
    org = Organization.objects.get(domain="demo")
    webhooks = {
        w.name: (str(w.key), w.builtin_template, w.receive_channel_id)
        for w in Webhook.objects.filter(organization=org)
    }
    assert webhooks == {name: (*spec, None) for name, spec in DEMO_WEBHOOKS.items()}
    rule = RoutingRule.objects.get(organization=org)
    assert (rule.name, rule.routing_key, rule.team.name) == (
        "Demo router",
        "demo-router",
        "Platform",
    )
    assert rule.default_service.name == "API"
    route = rule.routes.get()
    assert (route.position, route.enabled, route.service.name) == (0, True, "Checkout")
    assert route.conditions["conditions"] == [
        {
            "type": "filter",
            "source": "payload",
            "path": "commonLabels.team",
            "operation": "matches",
            "value": "payments",
        }
    ]

    ingest.cache_clear()  # fixed keys: forget lookups cached by earlier tests
    payload = json.loads(AM_FIRING.read_text())
    payload["commonLabels"]["team"] = "payments"
    path = "/integrations/webhooks/enque/event/00000000-0000-4000-8000-00000000a1e7/demo-router"
    response = client.post(
        path,
        data=json.dumps(payload),
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    assert signal_services.raw_events_drain(linger=0) == 1
    raw = RawEvent.objects.get()
    assert raw.status == RawEventStatus.PROCESSED, raw.error
    incident = raw.incident  # the demo's history has others too
    assert incident is not None
    assert incident.service == Service.objects.get(organization=org, name="Checkout")
    assert incident.summary == "HighErrorRate: High 5xx rate on the checkout API"
    assert incident.urgency == "high"
    assert raw.result["routing"]["rule"] == "Demo router"
    line = processing_summary(incident.events.get().processing)
    assert "routed by “Demo router”: route 1" in line
    ingest.cache_clear()
    # docs/webhooks.md "Try it" shows this very request (and tests/docs runs it).
    docs = (ROOT / "docs" / "webhooks.md").read_text()
    assert f'"$OPSDUTY_URL{path}"' in docs
    assert 'p["commonLabels"]["team"] = "payments"' in docs
    assert str(AM_FIRING.relative_to(ROOT)) in docs
    assert line in docs


def _session(expire_in: timedelta) -> str:
    store = SessionStore()
    store["x"] = 1
    store.create()
    Session.objects.filter(session_key=store.session_key).update(
        expire_date=timezone.now() + expire_in
    )
    assert store.session_key is not None
    return store.session_key


@pytest.mark.worker
def test_worker_clears_expired_sessions(celery_worker) -> None:
    expired = _session(timedelta(seconds=-1))
    alive = _session(timedelta(days=1))
    sessions_clear_expired.apply_async()
    # The worker runs in another thread with its own DB connection; wait for it to finish.
    assert wait_until(lambda: not Session.objects.filter(session_key=expired).exists())
    assert Session.objects.filter(session_key=alive).exists()


def _assert_demo_policies(org: Organization) -> None:
    """DEMO.md's two policies, once each, used by their team's service."""
    from escalations.models import EscalationPolicy
    from escalations.policies.selectors import policy_steps
    from escalations.policies.text import step_describe
    from opsduty.models import Service

    platform = EscalationPolicy.objects.for_org(org).get(name="Platform default")
    first = policy_steps(platform)[0]
    # Step 1 notifies only the schedule (tests/escalations/test_seed_schedule.py has more).
    assert (first.kind, first.schedule.name if first.schedule else None) == (
        "notify",
        "Platform primary",
    )
    assert (list(first.users.all()), list(first.teams.all())) == ([], [])
    policies = {
        p.name: (p.team.name, [step_describe(s) for s in policy_steps(p)])
        for p in EscalationPolicy.objects.for_org(org)
    }
    policies["Platform default"][1][0] = "(step 1: the schedule, above)"
    assert policies == {
        "Platform default": (
            "Platform",
            [
                "(step 1: the schedule, above)",
                "Wait 5 minutes",
                "Notify team Platform",
                "Repeat from step 1 (once)",
            ],
        ),
        "Payments default": ("Payments", ["Notify Alice", "Wait 10 minutes", "Notify Olivia"]),
    }
    used = dict(Service.objects.for_org(org).values_list("name", "escalation_policy__name"))
    assert used == {"API": "Platform default", "Checkout": "Payments default"}
