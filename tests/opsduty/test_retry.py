"""opsduty/retry.py: a transaction that PostgreSQL picks as a deadlock victim runs again."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from opsduty.models import Label, Organization
from opsduty.retry import run_retrying_conflicts
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _someone_waits_for_a_lock() -> bool:
    """Whether another session waits for a lock now. Asked inside a transaction, PostgreSQL
    answers pg_stat_activity from a snapshot taken at the first read (stats_fetch_consistency
    = cache): cleared first, each poll sees the present, not the first poll's moment (on a
    busy machine B polled before A waited, then saw "nobody waits" for 30 s)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return row is not None and row[0] > 0


def test_the_deadlock_victim_runs_again_and_its_work_lands_once(
    org_a: Organization, caplog: pytest.LogCaptureFixture
) -> None:
    """A real deadlock: A locks `first` and waits for `second`, which B holds, then B asks for
    `first`. A waited first, so PostgreSQL aborts A (40P01); the helper runs A again after B
    commits, and A's renames are what stays. The warning names the function and the SQLSTATE,
    never the arguments."""
    first = Label.objects.create(organization=org_a, name="first")
    second = Label.objects.create(organization=org_a, name="second")
    b_holds_second = threading.Event()
    attempts: list[int] = []
    outcome: dict[str, object] = {}

    @transaction.atomic
    def rename(*, secret: str) -> str:
        attempts.append(1)
        Label.objects.filter(pk=first.pk).update(name="first-a")
        if len(attempts) == 1:
            b_holds_second.wait()
        Label.objects.filter(pk=second.pk).update(name="second-a")
        return "renamed"

    def a() -> None:
        try:
            outcome["a"] = run_retrying_conflicts(rename, secret="hunter2")
        except Exception as error:  # noqa: BLE001 - asserted below
            outcome["a"] = error
        finally:
            connections.close_all()

    def b() -> None:
        try:
            with transaction.atomic():
                Label.objects.filter(pk=second.pk).update(name="second-b")
                b_holds_second.set()
                assert wait_until(_someone_waits_for_a_lock)
                Label.objects.filter(pk=first.pk).update(name="first-b")
            outcome["b"] = "committed"
        except Exception as error:  # noqa: BLE001 - asserted below
            outcome["b"] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcome == {"a": "renamed", "b": "committed"}
    assert len(attempts) == 2
    assert sorted(Label.objects.filter(organization=org_a).values_list("name", flat=True)) == [
        "first-a",
        "second-a",
    ]
    warnings = [r.getMessage() for r in caplog.records if r.name == "opsduty.retry"]
    assert len(warnings) == 1
    assert "rename" in warnings[0] and "deadlock (SQLSTATE 40P01)" in warnings[0]
    assert "hunter2" not in warnings[0]
