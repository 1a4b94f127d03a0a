"""docs/operations.md "Backups": a `pg_dump` of a live organization restores with
`pg_restore` into an empty database, and OpsDuty pointed at the copy carries on.

The dump and restore run PostgreSQL 15's own tools as the application's database user over
TCP, as the procedure says. The check then runs in a separate Django process whose
DATABASE_URL names the restored database: its migrations are complete, every incident and
the schedule are there (with who is on call), and the escalation step that was pending
when the dump was taken fires once when it falls due and mails the person it names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import time, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone

from escalations.catalog.services import service_set_policy
from escalations.engine.models import EscalationRun
from escalations.policies.models import StepKind
from escalations.policies.services import policy_create, step_add
from escalations.schedules.services import LayerInput, layer_create, schedule_create
from incidents.services import incident_resolve
from opsduty.models import Organization, User
from tests import factories
from tests.celery_workers import worker_database_url

pytestmark = pytest.mark.django_db(transaction=True)

PG_BIN = Path("/usr/lib/postgresql/15/bin")

# Run in the restored database: what an operator checks after a restore (docs/operations.md).
_CHECK = """
import json, django, time_machine
from datetime import timedelta
django.setup()
from django.core import mail
from django.utils import timezone
from escalations.engine.models import EscalationRun
from escalations.engine.tasks import escalation_run_sweep
from escalations.models import Schedule
from escalations.schedules.selectors import oncall_users
from incidents.models import Incident

schedule = Schedule.objects.get()
pending = EscalationRun.objects.get(due_at__isnull=False)
result = {
    "incidents": sorted(Incident.objects.values_list("summary", "status")),
    "schedule": schedule.name,
    "on_call": [user.email for user in oncall_users(schedule, timezone.now())],
    "due_now": escalation_run_sweep(),
}
with time_machine.travel(pending.due_at + timedelta(seconds=1), tick=False):
    result["fired"] = escalation_run_sweep()
    result["fired_again"] = escalation_run_sweep()
result["mailed"] = sorted(address for message in mail.outbox for address in message.to)
print(json.dumps(result))
"""


def _seed(organization: Organization, owner: User) -> None:
    """Two incidents (one resolved), a schedule with Alice on call, and Incident "Disk full"
    waiting for its policy's step 3 (page Bob), due a minute after it opened."""
    alice = factories.make_user(organization=organization, email="alice@a.example")
    bob = factories.make_user(organization=organization, email="bob@a.example")
    team = factories.make_team(organization=organization, name="Platform")
    for user in (owner, alice, bob):
        factories.add_member(team, user)
    schedule = schedule_create(team=team, by=None, name="Primary", timezone_name="UTC")
    start = timezone.now() - timedelta(days=1)
    layer = LayerInput(
        name="Daily",
        rotation="rolling",
        groups=[[alice]],
        frequency="daily",
        start_date=start.date(),
        handoff_time=time(0, 0),
        shift_minutes=24 * 60,
    )
    with time_machine.travel(start - timedelta(days=1), tick=False):  # layers start ahead
        layer_create(schedule=schedule, by=None, data=layer)
    service = factories.make_service(team=team, name="API")
    policy = policy_create(team=team, by=None, name="Default")
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, schedule_id=schedule.pk)
    step_add(policy=policy, by=None, kind=StepKind.WAIT, wait_minutes=1)
    step_add(policy=policy, by=None, kind=StepKind.NOTIFY, users=[bob])
    service_set_policy(service=service, policy=policy, by=None)
    old = factories.make_incident(service=service, summary="Certificate expired")
    incident_resolve(incident=old, by=owner)
    factories.make_incident(service=service, summary="Disk full")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - PostgreSQL's tools and our interpreter
        list(args), env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_a_restored_dump_pages_the_pending_step_once(
    org_a: Organization, owner: User, tmp_path: Path
) -> None:
    _seed(org_a, owner)
    assert EscalationRun.objects.filter(due_at__isnull=False).count() == 1
    db = settings.DATABASES["default"]
    pg = {
        **os.environ,
        "PGHOST": str(db["HOST"]),
        "PGPORT": str(db["PORT"]),
        "PGUSER": str(db["USER"]),
        "PGPASSWORD": str(db["PASSWORD"]),
    }
    dump = tmp_path / "opsduty.dump"
    done = _run(str(PG_BIN / "pg_dump"), "-Fc", "-f", str(dump), "-d", str(db["NAME"]), env=pg)
    assert done.returncode == 0, done.stderr

    restored = f"restored_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{restored}"')
    try:
        done = _run(
            str(PG_BIN / "pg_restore"),
            *("--no-owner", "--exit-on-error", "-d", restored, str(dump)),
            env=pg,
        )
        assert done.returncode == 0, done.stderr
        app = {
            **pg,
            "DATABASE_URL": worker_database_url().rsplit("/", 1)[0] + f"/{restored}",
            "OPSDUTY_DEBUG": "0",
            "OPSDUTY_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "DJANGO_SETTINGS_MODULE": "opsduty.settings",
        }
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        done = _run(*manage, "migrate", "--check", env=app)
        assert done.returncode == 0, done.stdout + done.stderr  # no migration missing
        done = _run(sys.executable, "-c", _CHECK, env={**app, "PYTHONPATH": str(settings.BASE_DIR)})
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')

    assert result["incidents"] == [["Certificate expired", "resolved"], ["Disk full", "triggered"]]
    assert (result["schedule"], result["on_call"]) == ("Primary", ["alice@a.example"])
    assert result["due_now"] == 0  # not due yet: nothing fires early
    assert (result["fired"], result["fired_again"]) == (1, 0)  # once
    assert result["mailed"] == ["bob@a.example"]  # step 3 pages Bob, and only Bob
