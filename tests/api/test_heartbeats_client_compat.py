"""Heartbeats with the real opsduty-client 0.1.0 and the real `opsduty` CLI 0.2.6.

The client and the CLI talk to `live_server` (Django's threaded WSGI server, which decodes
the path before routing) and, for the check-in by name, to `opsduty.asgi` under uvicorn in
a thread: the stack `make run` serves, where the raw path keeps `%2F` apart from `/`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opsduty_client import AuthenticatedClient
from opsduty_client.api.heartbeats import (
    opsduty_api_v1_heartbeats_create_heartbeat as create_heartbeat,
)
from opsduty_client.api.heartbeats import (
    opsduty_api_v1_heartbeats_create_heartbeat_state as create_state,
)
from opsduty_client.api.heartbeats import (
    opsduty_api_v1_heartbeats_delete_heartbeat as delete_heartbeat,
)
from opsduty_client.api.heartbeats import (
    opsduty_api_v1_heartbeats_delete_heartbeat_state as delete_state,
)
from opsduty_client.api.heartbeats import (
    opsduty_api_v1_heartbeats_healthcheck_environment_checkin as checkin_by_name,
)
from opsduty_client.api.heartbeats import (
    opsduty_api_v1_heartbeats_list_heartbeats as list_heartbeats,
)
from opsduty_client.api.heartbeats import (
    opsduty_api_v1_heartbeats_retrieve_heartbeat as retrieve_heartbeat,
)
from opsduty_client.api.heartbeats import (
    opsduty_api_v1_heartbeats_update_heartbeat as update_heartbeat,
)
from opsduty_client.api.heartbeats import (
    opsduty_api_v1_heartbeats_update_heartbeat_state as update_state,
)
from opsduty_client.models.create_heartbeat_input import CreateHeartbeatInput
from opsduty_client.models.create_heartbeat_state_input import CreateHeartbeatStateInput
from opsduty_client.models.cron_heartbeat_state_schema import CronHeartbeatStateSchema
from opsduty_client.models.heartbeat_schema import HeartbeatSchema
from opsduty_client.models.heartbeat_type import HeartbeatType
from opsduty_client.models.incident_urgency import IncidentUrgency
from opsduty_client.models.interval_heartbeat_state_schema import IntervalHeartbeatStateSchema
from opsduty_client.models.paged_heartbeat_schema import PagedHeartbeatSchema
from opsduty_client.models.update_heartbeat_input import UpdateHeartbeatInput
from opsduty_client.models.update_heartbeat_state_input import UpdateHeartbeatStateInput
from opsduty_client.types import UNSET, Unset

from opsduty import services
from opsduty.models import Role, Service, User
from signals.models import Heartbeat, HeartbeatCheckIn, HeartbeatState
from tests import factories
from tests.heartbeat_factories import make_heartbeat, make_state

pytestmark = pytest.mark.django_db(transaction=True)

OPSDUTY = str(Path(sys.executable).with_name("opsduty"))


def _owner_and_service(domain: str) -> tuple[User, Service, str]:
    organization = factories.make_organization(domain=domain, name=domain.upper())
    owner = factories.make_user(organization=organization, role=Role.OWNER)
    service = factories.make_service(organization=organization, name="API")
    return owner, service, services.api_token_create(user=owner)


def _cli(base_url: str, token: str | None, *args: str, stdin: str | None = None) -> Any:
    """Run the CLI without the ambient HEARTBEAT_ID / SERVICE_ID / NAME / ENV (spec §5.1)."""
    env = {k: v for k, v in os.environ.items() if k not in {"HEARTBEAT_ID", "SERVICE_ID"}}
    env = {k: v for k, v in env.items() if k not in {"NAME", "ENV", "OPSDUTY_ACCESS_TOKEN"}}
    token_args = ["--access-token", token] if token else []
    return subprocess.run(  # noqa: S603 - our own test command line
        [OPSDUTY, "--base-url", base_url, *token_args, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        input=stdin,
    )


# --- the generated client ---------------------------------------------------------------------


def test_the_public_client_manages_heartbeats_and_states(live_server: Any) -> None:
    owner, service, token = _owner_and_service("client")
    with AuthenticatedClient(
        base_url=live_server.url, token=token, raise_on_unexpected_status=True
    ) as client:
        created = create_heartbeat.sync(
            client=client,
            body=CreateHeartbeatInput(
                name="nightly job/x:y?#",
                description="db dump",
                service=service.pk,
                link="https://wiki.example/runbook",
                incident_urgency=IncidentUrgency.LOW,
            ),
        )
        assert isinstance(created, HeartbeatSchema)
        assert isinstance(created.id, int) and created.id > 0
        assert created.states == [] and created.incident_urgency == "low"
        assert isinstance(created.public_primary_key, str)

        cron = create_state.sync(
            client=client,
            body=CreateHeartbeatStateInput(
                heartbeat_id=created.id,
                environment="prod:eu",
                type_=HeartbeatType.CRON,
                timeout_seconds=60,
                muted=False,
                resolve_incident=True,
                cron_expression="0 2 * * *",
                cron_timezone="Europe/Oslo",
                interval_seconds=None,
            ),
        )
        assert isinstance(cron, CronHeartbeatStateSchema)
        assert (cron.cron_expression, cron.cron_timezone) == ("0 2 * * *", "Europe/Oslo")
        interval = create_state.sync(
            client=client,
            body=CreateHeartbeatStateInput(
                heartbeat_id=created.id,
                environment="staging",
                type_=HeartbeatType.INTERVAL,
                timeout_seconds=0,
                muted=True,
                resolve_incident=False,
                interval_seconds=300,
            ),
        )
        assert isinstance(interval, IntervalHeartbeatStateSchema)
        assert (interval.interval_seconds, interval.muted) == (300, True)
        assert isinstance(cron.id, int) and isinstance(interval.id, int)

        # A second heartbeat, then walk the list one item per page.
        other = create_heartbeat.sync(
            client=client, body=CreateHeartbeatInput(name="b", description="", service=service.pk)
        )
        assert isinstance(other, HeartbeatSchema) and isinstance(other.id, int)
        seen: list[HeartbeatSchema] = []
        after: str | Unset = UNSET
        while True:
            page = list_heartbeats.sync(client=client, service=service.pk, first=1, after=after)
            assert isinstance(page, PagedHeartbeatSchema)
            seen += page.items
            if not page.page_info.has_next_page:
                break
            assert isinstance(page.page_info.end_cursor, str)
            after = page.page_info.end_cursor
        assert [h.id for h in seen] == [created.id, other.id]
        assert [type(s) for s in seen[0].states] == [
            CronHeartbeatStateSchema,
            IntervalHeartbeatStateSchema,
        ]

        # The check-in by name: client 0.1.0 percent-encodes `/ : ? #`.
        answer = checkin_by_name.sync_detailed(
            service.pk, "nightly job/x:y?#", "prod:eu", client=client
        )
        assert answer.status_code == 200
        assert HeartbeatCheckIn.objects.filter(state_id=cron.id).count() == 1
        missing = checkin_by_name.sync_detailed(service.pk, "nope", "prod", client=client)
        assert missing.status_code == 404
        assert getattr(missing.parsed, "detail", None) == "Service “API” has no heartbeat “nope”."

        # Update: the client sends no labels; the urgency it leaves unset stays "low".
        updated = update_heartbeat.sync(
            created.id,
            client=client,
            body=UpdateHeartbeatInput(
                name="nightly job/x:y?#", description="changed", service=service.pk, link=None
            ),
        )
        assert isinstance(updated, HeartbeatSchema)
        assert (updated.description, updated.link, updated.incident_urgency) == (
            "changed",
            None,
            "low",
        )

        switched = update_state.sync(
            cron.id,
            client=client,
            body=UpdateHeartbeatStateInput(
                type_=HeartbeatType.INTERVAL,
                timeout_seconds=30,
                muted=False,
                resolve_incident=True,
                cron_expression=None,
                cron_timezone=None,
                interval_seconds=120,
            ),
        )
        assert isinstance(switched, IntervalHeartbeatStateSchema)
        assert switched.interval_seconds == 120
        assert "cron_expression" not in switched.additional_properties

        fetched = retrieve_heartbeat.sync(created.id, client=client)
        assert isinstance(fetched, HeartbeatSchema)
        assert [type(s) for s in fetched.states] == [IntervalHeartbeatStateSchema] * 2

        # Declared errors come back parsed (0.1.0): 404 for an unknown id, 422 for bad input.
        unknown = retrieve_heartbeat.sync_detailed(999999, client=client)
        assert unknown.status_code == 404 and unknown.parsed is not None
        bad = create_state.sync_detailed(
            client=client,
            body=CreateHeartbeatStateInput(
                heartbeat_id=999999,
                environment="x",
                type_=HeartbeatType.INTERVAL,
                timeout_seconds=0,
                muted=False,
                resolve_incident=True,
                interval_seconds=60,
            ),
        )
        assert bad.status_code == 422 and bad.parsed is not None

        assert delete_state.sync_detailed(interval.id, client=client).status_code == 204
        assert delete_heartbeat.sync_detailed(created.id, client=client).status_code == 204
        assert delete_heartbeat.sync_detailed(created.id, client=client).status_code == 404
    assert list(Heartbeat.objects.values_list("name", flat=True)) == ["b"]
    assert not HeartbeatState.objects.exists()


def test_the_client_checks_in_by_name_through_the_asgi_stack(asgi_server: str) -> None:
    """Under uvicorn the raw path tells `%2F` from `/`, in the environment too."""
    owner, service, token = _owner_and_service("asgi")
    name = "nightly job/x:y?#"
    right = make_state(heartbeat=make_heartbeat(service=service, name=name), environment="eu/w")
    # What splitting the decoded path on its last `/` would find instead.
    decoy = make_state(
        heartbeat=make_heartbeat(service=service, name=f"{name}/eu"), environment="w"
    )
    with AuthenticatedClient(
        base_url=asgi_server, token=token, raise_on_unexpected_status=True
    ) as client:
        answer = checkin_by_name.sync_detailed(service.pk, name, "eu/w", client=client)
        assert answer.status_code == 200
        listed = list_heartbeats.sync(client=client, service=service.pk)
        assert isinstance(listed, PagedHeartbeatSchema) and len(listed.items) == 2
    assert HeartbeatCheckIn.objects.filter(state=right).count() == 1
    assert not HeartbeatCheckIn.objects.filter(state=decoy).exists()
    checkin = HeartbeatCheckIn.objects.get(state=right)
    assert checkin.source_ip == "127.0.0.1"
    assert checkin.user_agent.startswith("python-httpx/")


# --- the CLI ----------------------------------------------------------------------------------


def _state_row(state: HeartbeatState) -> tuple[Any, ...]:
    return (
        state.pk,
        state.environment,
        state.type,
        state.cron_expression,
        state.cron_timezone,
        state.interval_seconds,
        state.timeout_seconds,
        state.muted,
        state.resolve_incident,
    )


def _snapshot(service: Service) -> list[tuple[Any, ...]]:
    rows = []
    for heartbeat in Heartbeat.objects.filter(service=service).order_by("id"):
        states = [_state_row(s) for s in heartbeat.states.order_by("id")]
        rows.append(
            (
                heartbeat.pk,
                heartbeat.public_primary_key,
                heartbeat.name,
                heartbeat.description,
                heartbeat.link,
                heartbeat.incident_urgency,
                heartbeat.labels,
                states,
            )
        )
    return rows


def test_the_cli_exports_and_imports_a_service_unchanged(live_server: Any, tmp_path: Path) -> None:
    owner, service, token = _owner_and_service("cli")
    backup = make_heartbeat(
        service=service,
        name="nightly-backup",
        description="pg_dump of the main database",
        link="https://wiki.example/backup",
        incident_urgency="low",
        labels=["db"],
    )
    make_state(heartbeat=backup, environment="prod", type="cron", cron_timezone="Europe/Oslo")
    make_state(heartbeat=backup, environment="staging", interval_seconds=3600, muted=True)
    # More heartbeats than one page (50) holds, so the CLI walks the cursor.
    for number in range(51):
        make_heartbeat(service=service, name=f"job-{number:02}")
    make_heartbeat(service=factories.make_service(team=service.team), name="elsewhere")
    before = _snapshot(service)

    exported = _cli(
        live_server.url,
        token,
        "heartbeats",
        "export",
        "--service-id",
        str(service.pk),
        "-o",
        "json",
    )
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["service_id"] == service.pk
    assert len(document["heartbeats"]) == 52
    first = document["heartbeats"][0]
    assert first["heartbeat_id"] == backup.public_primary_key
    assert [s["environment"] for s in first["states"]] == ["prod", "staging"]
    assert first["states"][0]["cron_expression"] == "0 2 * * *"
    assert "interval_seconds" not in first["states"][0]
    assert first["states"][1]["interval_seconds"] == 3600
    assert "link" not in document["heartbeats"][1]  # null: left out by the CLI

    path = tmp_path / "heartbeats.json"
    path.write_text(exported.stdout)
    imported = _cli(live_server.url, token, "heartbeats", "import", "-f", str(path))
    assert imported.returncode == 0, imported.stderr
    assert "Matched 52 existing heartbeats, found 0 new heartbeats." in imported.stderr
    assert _snapshot(service) == before  # urgency and labels survive the CLI's PUTs

    again = _cli(
        live_server.url,
        token,
        "heartbeats",
        "export",
        "--service-id",
        str(service.pk),
        "-o",
        "yaml",
    )
    assert again.returncode == 0, again.stderr
    yaml_path = tmp_path / "heartbeats.yaml"
    yaml_path.write_text(again.stdout)
    assert (
        _cli(live_server.url, token, "heartbeats", "import", "-f", str(yaml_path)).returncode == 0
    )
    assert _snapshot(service) == before


def test_the_cli_import_creates_updates_and_removes(live_server: Any, tmp_path: Path) -> None:
    owner, service, token = _owner_and_service("cliimport")
    alpha = make_heartbeat(service=service, name="alpha", incident_urgency="low")
    alpha_prod = make_state(heartbeat=alpha, environment="prod")
    beta = make_heartbeat(service=service, name="beta")
    beta_old = make_state(heartbeat=beta, environment="old")
    gamma = make_heartbeat(service=service, name="gamma")
    document = {
        "service_id": service.pk,
        "heartbeats": [
            {
                "id": alpha.pk,
                "name": "alpha",
                "description": "changed alpha",
                "states": [
                    {
                        "id": alpha_prod.pk,
                        "environment": "prod",
                        "type": "cron",
                        "muted": False,
                        "resolve_incident": True,
                        "timeout_seconds": 60,
                        "cron_expression": "*/10 * * * *",
                        "cron_timezone": "UTC",
                    },
                    {
                        "environment": "staging",
                        "type": "interval",
                        "muted": True,
                        "resolve_incident": False,
                        "timeout_seconds": 0,
                        "interval_seconds": 600,
                    },
                ],
            },
            {"name": "beta", "states": []},
            {
                "name": "delta",
                "link": "https://example.com/runbook",
                "states": [
                    {
                        "environment": "prod:eu",
                        "type": "interval",
                        "muted": False,
                        "resolve_incident": True,
                        "timeout_seconds": 30,
                        "interval_seconds": 120,
                    }
                ],
            },
        ],
    }
    path = tmp_path / "heartbeats.yaml"
    path.write_text(json.dumps(document))
    done = _cli(
        live_server.url,
        token,
        "heartbeats",
        "import",
        "-f",
        str(path),
        "--remove-unknown-heartbeats",
        "--confirm",
    )
    assert done.returncode == 0, done.stderr
    alpha.refresh_from_db()
    assert (alpha.description, alpha.incident_urgency) == ("changed alpha", "low")
    states = {s.environment: s for s in alpha.states.all()}
    assert set(states) == {"prod", "staging"}
    assert (states["prod"].type, states["prod"].interval_seconds) == ("cron", None)
    assert (states["prod"].cron_expression, states["prod"].timeout_seconds) == ("*/10 * * * *", 60)
    assert (states["staging"].interval_seconds, states["staging"].muted) == (600, True)
    assert not HeartbeatState.objects.filter(pk=beta_old.pk).exists()
    assert not Heartbeat.objects.filter(pk=gamma.pk).exists()
    delta = Heartbeat.objects.get(service=service, name="delta")
    assert delta.link == "https://example.com/runbook"
    assert [(s.environment, s.interval_seconds) for s in delta.states.all()] == [("prod:eu", 120)]


def test_the_cli_checks_in_by_service_and_name(asgi_server: str, live_server: Any) -> None:
    owner, service, token = _owner_and_service("clicheckin")
    name = "nightly job/x:y?#"
    state = make_state(heartbeat=make_heartbeat(service=service, name=name), environment="prod:eu")
    args = ["heartbeats", "checkin", "--service-id", str(service.pk), "--name", name]
    for base_url in (asgi_server, live_server.url):
        done = _cli(base_url, token, *args, "-e", "prod:eu")
        assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert HeartbeatCheckIn.objects.filter(state=state).count() == 2
    # CLI 0.2.6 exits 0 on a 404 with a JSON detail: the check-in simply did not happen.
    done = _cli(asgi_server, token, *args, "-e", "staging")
    assert done.returncode == 0, done.stderr
    assert HeartbeatCheckIn.objects.filter(state=state).count() == 2
    assert _cli(asgi_server, None, *args, "-e", "prod:eu").returncode == 2  # no token


def test_the_cli_checks_in_publicly_by_heartbeat_id(asgi_server: str) -> None:
    owner, service, token = _owner_and_service("clipublic")
    single = make_heartbeat(service=service, name="single")
    only = make_state(heartbeat=single, environment="prod")
    double = make_heartbeat(service=service, name="double")
    make_state(heartbeat=double, environment="prod")
    staging = make_state(heartbeat=double, environment="staging")

    def checkin(*args: str) -> Any:
        return _cli(asgi_server, None, "heartbeats", "checkin", *args)

    done = checkin("--heartbeat-id", single.public_primary_key)
    assert done.returncode == 0, done.stderr
    assert HeartbeatCheckIn.objects.filter(state=only).count() == 1
    done = checkin("--heartbeat-id", double.public_primary_key, "-e", "staging")
    assert done.returncode == 0, done.stderr
    assert HeartbeatCheckIn.objects.filter(state=staging).count() == 1
    checkin_row = HeartbeatCheckIn.objects.get(state=staging)
    assert checkin_row.user_agent.startswith("python-requests/")
    assert checkin_row.source_ip == "127.0.0.1"
    # Several environments and no -e, or an unknown key: 404, a failed check-in (exit 1).
    for args in (
        ["--heartbeat-id", double.public_primary_key],
        ["--heartbeat-id", "HBUNKNOWN", "-e", "prod"],
    ):
        done = checkin(*args)
        assert done.returncode == 1
        assert "Could not send heartbeat checkin to OpsDuty." in done.stderr
    assert HeartbeatCheckIn.objects.count() == 2
