"""Behind PgBouncer in transaction mode (OPSDUTY_DB_PGBOUNCER, docs/scaling.md) a server
connection is ours for one transaction, and the next transaction may run on another that
other clients used in between. Nothing may be left in a session: no session settings, no
named prepared statements (PgBouncer follows them only from 1.21; Debian 12 has 1.18), no
cursors outliving their transaction. bench/scaleout.py runs every process through a real
PgBouncer; these check each rule where the code could break it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.ingest.drain import raw_events_drain
from opsduty.models import Organization
from signals.models import RawEvent, RawEventStatus
from signals.receiver import ingest_async
from tests import factories

_SHOW = (
    "from django.conf import settings; import json; db = settings.DATABASES['default']; "
    "print(json.dumps([db['DISABLE_SERVER_SIDE_CURSORS'], "
    "settings.OPSDUTY_DB_PREPARED_STATEMENTS, db['OPTIONS']['prepare_threshold']]))"
)


def _settings_with(**env: str) -> list[Any]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "opsduty.settings", **env}
    for name in ("OPSDUTY_DB_PGBOUNCER", "OPSDUTY_DB_PREPARED_STATEMENTS"):
        if name not in env:
            environment.pop(name, None)
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", "import django; django.setup(); " + _SHOW],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    result: list[Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_pgbouncer_setting_turns_off_held_cursors_and_prepared_statements() -> None:
    assert _settings_with() == [False, True, None]
    assert _settings_with(OPSDUTY_DB_PGBOUNCER="1") == [True, False, None]
    # PgBouncer 1.21+ with max_prepared_statements follows them: they may be turned back on.
    both = _settings_with(OPSDUTY_DB_PGBOUNCER="1", OPSDUTY_DB_PREPARED_STATEMENTS="1")
    assert both == [True, True, None]


def _three_pending_events(organization: Organization) -> None:
    """Three stored events of new dedup ids on a service without a policy, not processed."""
    service = factories.make_service(organization=organization)
    webhook = factories.make_webhook(organization=organization)
    for n in range(3):
        factories.make_raw_event(
            organization=organization,
            webhook=webhook,
            routing_key=service.routing_key,
            body={"title": f"Disk full {n}", "dedup_id": f"disk-{n}"},
        )


_SESSION_STATEMENT = re.compile(r"^\s*(SET|RESET)\s+(?!LOCAL\b)", re.IGNORECASE)


@pytest.mark.django_db
@pytest.mark.parametrize("pgbouncer", [False, True])
def test_a_drain_behind_pgbouncer_sets_synchronous_commit_per_transaction_only(
    pgbouncer: bool, org_a: Organization, settings: Any
) -> None:
    """Session-wide, `synchronous_commit = off` would stay on the pooled server connection,
    where the next client's transaction may be a webhook's durable INSERT."""
    settings.OPSDUTY_DB_PGBOUNCER = pgbouncer
    _three_pending_events(org_a)
    with CaptureQueriesContext(connection) as queries:
        assert raw_events_drain(linger=0) == 3
    assert RawEvent.objects.filter(status=RawEventStatus.PROCESSED).count() == 3
    statements = [query["sql"] for query in queries.captured_queries]
    session = [sql for sql in statements if _SESSION_STATEMENT.match(sql)]
    if pgbouncer:
        assert session == []
        assert "SET LOCAL synchronous_commit TO OFF" in statements
    else:  # one round trip less per transaction where the session is ours
        assert session == ["SET synchronous_commit TO OFF", "RESET synchronous_commit"]


def _prepared_statements() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [True, False])
def test_without_prepared_statements_an_incident_change_prepares_none(
    prepared: bool, org_a: Organization, settings: Any
) -> None:
    """The analytics upkeep prepares its statements where it may (they run at every change)."""
    settings.OPSDUTY_DB_PREPARED_STATEMENTS = prepared
    service = factories.make_service(organization=org_a)
    connection.close()  # a new session, with nothing prepared yet
    factories.make_incident(service=service)
    assert (_prepared_statements() > 0) is prepared


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [True, False])
def test_the_pipeline_prepares_its_listed_statements_only_where_allowed(
    prepared: bool, org_a: Organization, settings: Any
) -> None:
    """The drain's hot statements (`opsduty.rawsql.prepared`) are prepared where allowed, and
    nothing else is: an ad hoc query's generic plan can be far worse than its custom one."""
    settings.OPSDUTY_DB_PREPARED_STATEMENTS = prepared
    _three_pending_events(org_a)
    connection.close()  # a new session, with nothing prepared yet
    assert raw_events_drain(linger=0) == 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    events_insert = [s for s in statements if s.startswith("INSERT INTO incidents_incidentevent")]
    assert bool(events_insert) is prepared
    # The ORM's statements (reading the webhook, the service) are not prepared.
    assert not [s for s in statements if s.startswith('SELECT "signals_webhook"')]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [True, False])
def test_the_receivers_pool_prepares_only_where_allowed(prepared: bool, settings: Any) -> None:
    settings.OPSDUTY_DB_PREPARED_STATEMENTS = prepared

    async def threshold() -> int | None:
        try:
            pool = await ingest_async._db()
            async with pool.connection() as conn:
                return conn.prepare_threshold
        finally:
            await ingest_async.close()

    # On a loop of its own in another thread: Playwright may own this thread's loop.
    with ThreadPoolExecutor(max_workers=1) as executor:
        found = executor.submit(asyncio.run, threshold()).result()
    assert (found is not None) is prepared
