"""Read paths at scale (issue 20, item 5): every list page of the UI and every API v1 list,
timed against one organization with 100,000 incidents, 2,000 services and 500 people.

1. Data (once; reused by its marker, the organization's domain `bench-read-<N>`):
   bench/support/read_world.py builds it, the configuration through the services and the
   volume by COPY through bench/analytics.py's generator (its docstring has the shapes).
2. The Procfile's `web:` line (uvicorn, 2 workers; DEBUG off, the API rate limit out of the
   way) on a free loopback port, and a fake Slack in this process for Settings -> Slack (the
   page lists the workspace's channels); Twilio points at a closed port (nothing is bought).
3. The cases: every route that tests/read_paths.py lists as a list (it walks the URLconfs,
   so a new list page or endpoint is there, or its test fails); each has a first page, and
   where the route has them a deep page (50,000 incidents back; the cursor or page number
   that the page's own "Older" link uses), filters (status, service, team, urgency, label,
   dates) and a larger page. UI pages are fetched with the owner's session cookie, the API
   with a personal API token (bearer), one keep-alive connection, one request at a time.
4. For each case: the status and body size, the queries it makes (counted in this process
   through Django's test client, CaptureQueriesContext: the same code as the server runs)
   and `--repeat` timed requests after 3 warm-up ones (p50 / p99 / max, milliseconds from
   sending the request to the last byte of the answer, on loopback), with the CPU time the
   web processes and PostgreSQL spent per request (from /proc: what an answer costs,
   whatever else the machine runs, where the latency also holds the waits for a core).

JSON on stdout, a Markdown table on stderr (`--json FILE` writes the JSON there too).

    eval "$(make -s services)"; .venv/bin/python manage.py migrate
    .venv/bin/python bench/read_paths.py [--repeat 60] [--only incidents]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import cpu, procfile, stats  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
os.environ["OPSDUTY_DEBUG"] = "0"
os.environ["OPSDUTY_STATIC_MANIFEST"] = "0"
# Serving, not the per-token throttle (1,200 a minute), in the server and in this process.
os.environ["OPSDUTY_RATE_API"] = "100000000/min"

TARGET_P99_MS = 100
DEEP = 50_000  # incidents back, for the deep pages
SLACK = {
    "OPSDUTY_SLACK_CLIENT_ID": "111.222",
    "OPSDUTY_SLACK_CLIENT_SECRET": "bench-client-secret",
    "OPSDUTY_SLACK_SIGNING_SECRET": "bench-signing-secret",
}
ENV = {
    "OPSDUTY_TWILIO_API_URL": "http://127.0.0.1:9",  # Twilio unreachable: nothing is bought
    "OPSDUTY_LOG_LEVEL": "ERROR",
    **SLACK,
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--services", type=int, default=2_000)
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=60, help="timed requests per case")
    parser.add_argument(
        "--case-seconds",
        type=float,
        default=30.0,
        help="stop timing a case after this long (at least 10 requests; slow pages before)",
    )
    parser.add_argument("--only", default="", help="only cases whose name contains this")
    parser.add_argument("--json", default="", help="also write the JSON to this file")
    parser.add_argument("--port", type=int, default=0, help="web port (default: a free one)")
    return parser.parse_args()


@dataclass
class Case:
    name: str
    route: str  # the URL pattern, as tests/read_paths.py names it
    url: str
    api: bool = False
    result: dict[str, Any] = field(default_factory=dict)


# --- the ids the URLs need -----------------------------------------------------------------


@dataclass
class Ids:
    busy_service: int
    quiet_service: int
    busy_team: int
    label: str
    deep_incident: int  # the DEEP-th newest incident
    busy_incident: int  # an incident with responders
    schedule: int
    policy: int
    routing_rule: int
    heartbeat: int
    busy_webhook: int
    deep_raw_event: int


def _ids(organization: Any) -> Ids:
    from django.db import connection

    def one(sql: str, *params: Any) -> Any:
        with connection.cursor() as cursor:
            cursor.execute(sql, [organization.pk, *params])
            row = cursor.fetchone()
            return row[0] if row else None

    return Ids(
        busy_service=one(
            "SELECT service_id FROM incidents_incident WHERE organization_id = %s"
            " GROUP BY service_id ORDER BY count(*) DESC, service_id LIMIT 1"
        ),
        quiet_service=one(
            "SELECT service_id FROM incidents_incident WHERE organization_id = %s"
            " GROUP BY service_id ORDER BY count(*), service_id LIMIT 1"
        ),
        busy_team=one(
            "SELECT s.team_id FROM incidents_incident i JOIN escalations_service s"
            " ON s.id = i.service_id WHERE i.organization_id = %s"
            " GROUP BY s.team_id ORDER BY count(*) DESC, s.team_id LIMIT 1"
        ),
        label=one(
            "SELECT l.name FROM opsduty_label l WHERE l.organization_id = %s ORDER BY l.id LIMIT 1"
        ),
        deep_incident=one(
            "SELECT id FROM incidents_incident WHERE organization_id = %s"
            " ORDER BY id DESC OFFSET %s LIMIT 1",
            DEEP,
        ),
        busy_incident=one(
            "SELECT incident_id FROM incidents_incidentresponder WHERE organization_id = %s"
            " GROUP BY incident_id ORDER BY count(*) DESC, incident_id DESC LIMIT 1"
        ),
        schedule=one("SELECT min(id) FROM escalations_schedule WHERE organization_id = %s"),
        policy=one("SELECT min(id) FROM escalations_escalationpolicy WHERE organization_id = %s"),
        routing_rule=one("SELECT min(id) FROM processing_routingrule WHERE organization_id = %s"),
        heartbeat=one("SELECT min(id) FROM signals_heartbeat WHERE organization_id = %s"),
        busy_webhook=one(
            "SELECT webhook_id FROM signals_rawevent WHERE organization_id = %s"
            " GROUP BY webhook_id ORDER BY count(*) DESC, webhook_id LIMIT 1"
        ),
        deep_raw_event=one(
            "SELECT id FROM signals_rawevent WHERE organization_id = %s"
            " ORDER BY id DESC OFFSET %s LIMIT 1",
            DEEP,
        ),
    )


# --- the cases -------------------------------------------------------------------------------


def _cases(ids: Ids, today: str, week_ago: str) -> list[Case]:
    from opsduty.api.pagination import encode_cursor

    deep_cursor = encode_cursor([ids.deep_incident])
    open_statuses = "status=triggered&status=acknowledged&status=silenced"
    ui: list[tuple[str, str, str]] = [
        ("members", "members/", "/members/"),
        ("teams", "teams/", "/teams/"),
        ("team members", "teams/<int:team_id>/", f"/teams/{ids.busy_team}/"),
        ("my API tokens", "profile/tokens/", "/profile/tokens/"),
        ("organization API tokens", "settings/tokens/", "/settings/tokens/"),
        ("OAuth applications", "settings/developer/", "/settings/developer/"),
        ("incidents", "incidents/", "/incidents/"),
        ("incidents, open", "incidents/", f"/incidents/?{open_statuses}"),
        ("incidents, resolved", "incidents/", "/incidents/?status=resolved"),
        ("incidents, busy service", "incidents/", f"/incidents/?service={ids.busy_service}"),
        ("incidents, quiet service", "incidents/", f"/incidents/?service={ids.quiet_service}"),
        ("incidents, team", "incidents/", f"/incidents/?team={ids.busy_team}"),
        ("incidents, low urgency", "incidents/", "/incidents/?urgency=low"),
        ("incidents, label", "incidents/", f"/incidents/?label={ids.label}"),
        ("incidents, last 7 days", "incidents/", f"/incidents/?since={week_ago}&until={today}"),
        ("incident rows (live refresh)", "incidents/rows/", "/incidents/rows/"),
        ("services", "services/", "/services/"),
        ("service, open incidents", "services/<int:service_id>/", f"/services/{ids.busy_service}/"),
        ("my notification rules", "profile/notifications/", "/profile/notifications/"),
        ("escalation policies", "escalation-policies/", "/escalation-policies/"),
        (
            "escalation policy, services",
            "escalation-policies/<int:policy_id>/",
            f"/escalation-policies/{ids.policy}/",
        ),
        ("schedules", "schedules/", "/schedules/"),
        ("schedule, shifts", "schedules/<int:schedule_id>/", f"/schedules/{ids.schedule}/"),
        ("my calendar", "profile/calendars/", "/profile/calendars/"),
        ("diagnostics", "settings/diagnostics/", "/settings/diagnostics/"),
        ("routing rules", "routing-rules/", "/routing-rules/"),
        (
            "routing rule, routes",
            "routing-rules/<int:routing_rule_id>/",
            f"/routing-rules/{ids.routing_rule}/",
        ),
        ("receive channels", "receive-channels/", "/receive-channels/"),
        ("webhooks", "webhooks/", "/webhooks/"),
        ("webhook, recent events", "webhooks/<int:webhook_id>/", f"/webhooks/{ids.busy_webhook}/"),
        ("raw events", "raw-events/", "/raw-events/"),
        ("raw events, deep", "raw-events/", f"/raw-events/?before={ids.deep_raw_event}"),
        ("raw events, failed", "raw-events/", "/raw-events/?status=failed"),
        ("raw events, webhook", "raw-events/", f"/raw-events/?webhook={ids.busy_webhook}"),
        ("heartbeats", "heartbeats/", "/heartbeats/"),
        ("heartbeats, service", "heartbeats/", f"/heartbeats/?service={ids.busy_service}"),
        ("heartbeat, check-ins", "heartbeats/<int:heartbeat_id>/", f"/heartbeats/{ids.heartbeat}/"),
        ("telephony numbers", "settings/telephony/", "/settings/telephony/"),
        ("Slack channels of services", "settings/slack/", "/settings/slack/"),
    ]
    for tab, route in (
        ("", "analytics/"),
        ("services/", "analytics/services/"),
        ("policies/", "analytics/policies/"),
        ("teams/", "analytics/teams/"),
        ("responders/", "analytics/responders/"),
    ):
        name = f"analytics {tab.rstrip('/') or 'overview'}"
        ui.append((name, route, f"/{route}"))
        csv = "analytics/csv/" if not tab else f"{route}csv/"
        ui.append((f"{name} CSV", csv, f"/{csv}"))
    ui.append(("analytics over time CSV", "analytics/over-time/csv/", "/analytics/over-time/csv/"))
    api: list[tuple[str, str, str]] = [
        ("API users", "users/", "/api/v1/users/"),
        ("API users, 100", "users/", "/api/v1/users/?first=100"),
        ("API heartbeats", "heartbeats/", "/api/v1/heartbeats/"),
        (
            "API heartbeats, service",
            "heartbeats/",
            f"/api/v1/heartbeats/?service={ids.busy_service}",
        ),
        ("API services", "services/", "/api/v1/services/"),
        ("API services, 100", "services/", "/api/v1/services/?first=100"),
        (
            "API service on call",
            "services/<int:service_id>/oncall/",
            f"/api/v1/services/{ids.busy_service}/oncall/",
        ),
        ("API schedules", "schedules/", "/api/v1/schedules/"),
        (
            "API schedule shifts",
            "schedules/<int:schedule_id>/shifts/",
            f"/api/v1/schedules/{ids.schedule}/shifts/?datetime_start={week_ago}T00:00:00Z"
            f"&datetime_end={today}T00:00:00Z",
        ),
        (
            "API schedule overrides",
            "schedules/<int:schedule_id>/overrides/",
            f"/api/v1/schedules/{ids.schedule}/overrides/",
        ),
        ("API incidents", "incidents/", "/api/v1/incidents/"),
        ("API incidents, 100", "incidents/", "/api/v1/incidents/?first=100"),
        ("API incidents, deep", "incidents/", f"/api/v1/incidents/?after={deep_cursor}"),
        ("API incidents, back from deep", "incidents/", f"/api/v1/incidents/?before={deep_cursor}"),
        (
            "API incidents, busy service",
            "incidents/",
            f"/api/v1/incidents/?service={ids.busy_service}",
        ),
        (
            "API incidents, quiet service",
            "incidents/",
            f"/api/v1/incidents/?service={ids.quiet_service}",
        ),
        (
            "API incidents, last 7 days",
            "incidents/",
            f"/api/v1/incidents/?since={week_ago}T00:00:00&until={today}T00:00:00",
        ),
        (
            "API incident responders",
            "incidents/<int:incident_group_id>/responders/",
            f"/api/v1/incidents/{ids.busy_incident}/responders/",
        ),
        ("API receive channels", "receive-channels/", "/api/v1/receive-channels/"),
    ]
    for tab in ("overview", "services", "policies", "teams", "responders"):
        api.append((f"API analytics {tab}", f"analytics/{tab}/", f"/api/v1/analytics/{tab}/"))
    cases = [Case(name, route, url) for name, route, url in ui]
    cases += [Case(name, f"api/v1/{route}", url, api=True) for name, route, url in api]
    return cases


def _deep_incident_page(first_page: str, ids: Ids) -> str | None:
    """The incident list's page DEEP incidents back, the way its "Older" link pages: by
    page number (`?page=`) or by cursor (`?before=<id>`)."""
    link = re.search(r'href="([^"]*)"\s+rel="next"', first_page)
    if link is None:
        return None
    href = urljoin("/incidents/", link.group(1).replace("&amp;", "&"))
    if "page=" in href:
        return re.sub(r"page=\d+", f"page={DEEP // 50 + 1}", href)
    if "after=" in href:  # opsduty/paging.py: the cursor of the row before the page
        from opsduty.paging import cursor_encode

        return re.sub(r"after=[^&]+", f"after={cursor_encode([ids.deep_incident + 1])}", href)
    if "before=" in href:
        return re.sub(r"before=\d+", f"before={ids.deep_incident + 1}", href)
    return None


def _check_every_list_route_has_a_case(cases: list[Case]) -> list[str]:
    """The list routes of tests/read_paths.py that no case here times (should be none)."""
    from tests.read_paths import LIST_ROUTES

    timed = {case.route for case in cases}
    return sorted(set(LIST_ROUTES) - timed)


# --- measuring -------------------------------------------------------------------------------


def _count_queries(case: Case, client: Any) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(case.url)
    return response.status_code, len(captured.captured_queries)


def _time(
    web: int, port: int, case: Case, headers: dict[str, str], repeat: int, budget: float
) -> dict[str, Any]:
    """`repeat` timed requests after 3 warm-up ones, and the CPU the web processes and
    PostgreSQL spent on them (from /proc: what the answer costs, whatever else the machine
    runs; the latency also holds the waits for a core)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    seconds: list[float] = []
    status, size = 0, 0
    stop = time.monotonic() + budget
    web_cpu = pg_cpu = 0.0
    for n in range(3 + repeat):
        if len(seconds) >= 10 and time.monotonic() > stop:
            break
        if n == 3:
            web_cpu, pg_cpu = cpu.tree_cpu_seconds(web), cpu.postgres_cpu_seconds()
        started = time.perf_counter()
        conn.request("GET", case.url, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        status, size = response.status, len(body)
        if n >= 3:
            seconds.append(elapsed)
    web_cpu = cpu.tree_cpu_seconds(web) - web_cpu
    pg_cpu = cpu.postgres_cpu_seconds() - pg_cpu
    conn.close()
    per = 1000 / max(1, len(seconds))
    return {
        "status": status,
        "bytes": size,
        **stats.ms(seconds, digits=1),
        "web_cpu_ms": round(web_cpu * per, 1),
        "postgres_cpu_ms": round(pg_cpu * per, 1),
    }


def _first_page(port: int, url: str, headers: dict[str, str]) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", url, headers=headers)
    body = conn.getresponse().read().decode()
    conn.close()
    return body


def _clients(world: Any) -> tuple[Any, Any, dict[str, str], dict[str, str]]:
    from django.conf import settings
    from django.test import Client

    from opsduty import services

    session = Client(HTTP_HOST="127.0.0.1")
    session.force_login(world.owner)
    cookie = session.cookies[settings.SESSION_COOKIE_NAME].value
    from opsduty.models import ApiToken

    # One token of the bench at a time (the owner's token page lists them).
    for old in ApiToken.objects.filter(user=world.owner, name="bench read paths"):
        services.api_token_revoke(token=old, by=world.owner)
    token = services.api_token_create(user=world.owner, name="bench read paths")
    api = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    ui_headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}", "Host": "127.0.0.1"}
    api_headers = {"Authorization": f"Bearer {token}", "Host": "127.0.0.1"}
    return session, api, ui_headers, api_headers


def _fake_slack(world: Any) -> Any:
    """A fake Slack whose workspace is the bench organization's (a fresh bot token each run,
    the directory's 100 channels)."""
    from integrations.slack.fake import FakeSlack
    from integrations.slack.models import SlackChannel, SlackWorkspace

    fake = FakeSlack(
        signing_secret=SLACK["OPSDUTY_SLACK_SIGNING_SECRET"],
        client_id=SLACK["OPSDUTY_SLACK_CLIENT_ID"],
        client_secret=SLACK["OPSDUTY_SLACK_CLIENT_SECRET"],
    ).start()
    workspace = SlackWorkspace.objects.get(organization=world.organization)
    fake.add_team(workspace.team_id, workspace.team_name)
    for channel in SlackChannel.objects.filter(workspace=workspace):
        fake.add_channel(workspace.team_id, channel.channel_id, channel.name)
    workspace.bot_token = fake.install(workspace.team_id)
    workspace.save(update_fields=["bot_token"])
    return fake


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _table(out: dict[str, Any]) -> str:
    lines = [
        "| Page or endpoint | URL | status | queries | KB | p50 / p99 / max (ms)"
        " | CPU web + PostgreSQL (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in out["cases"]:
        r = case["result"]
        if "p50_ms" not in r:
            lines.append(f"| {case['name']} | `{case['url']}` | {r.get('error', '')} | | | | |")
            continue
        p99 = f"**{r['p99_ms']}**" if r["p99_ms"] >= TARGET_P99_MS else str(r["p99_ms"])
        lines.append(
            f"| {case['name']} | `{case['url'][:70]}` | {r['status']} | {r['queries']}"
            f" | {r['bytes'] / 1024:.0f} | {r['p50_ms']} / {p99} / {r['max_ms']}"
            f" | {r.get('web_cpu_ms', '')} + {r.get('postgres_cpu_ms', '')} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = _arguments()
    import django

    django.setup()
    from datetime import timedelta

    from django.db import connections
    from django.utils import timezone

    from bench.support.read_world import world_get_or_create

    world, data = world_get_or_create(
        incidents=args.incidents,
        services=args.services,
        people=args.people,
        teams=args.teams,
        log=lambda line: print(line, file=sys.stderr),
    )
    ids = _ids(world.organization)
    today = timezone.now().date()
    cases = _cases(ids, today.isoformat(), (today - timedelta(days=7)).isoformat())
    missing = _check_every_list_route_has_a_case(cases)
    fake = _fake_slack(world)
    session, api, ui_headers, api_headers = _clients(world)
    port = args.port or _free_port()
    env = {
        **ENV,
        "OPSDUTY_WEB_PORT": str(port),
        "OPSDUTY_RUN_DIR": str(ROOT / ".run" / "dev"),
        "OPSDUTY_SLACK_API_URL": fake.api_url,
    }
    os.environ.update(env)  # the in-process test client reads the same settings
    from django.conf import settings

    settings.OPSDUTY_SLACK_API_URL = fake.api_url
    settings.OPSDUTY_SLACK_CLIENT_ID = SLACK["OPSDUTY_SLACK_CLIENT_ID"]
    settings.OPSDUTY_SLACK_CLIENT_SECRET = SLACK["OPSDUTY_SLACK_CLIENT_SECRET"]
    settings.OPSDUTY_SLACK_SIGNING_SECRET = SLACK["OPSDUTY_SLACK_SIGNING_SECRET"]
    settings.OPSDUTY_TWILIO_API_URL = ENV["OPSDUTY_TWILIO_API_URL"]
    connections.close_all()
    web = procfile.start("web", env)
    load = os.getloadavg()
    try:
        procfile.wait_for_port(port)
        first = _first_page(port, "/incidents/", ui_headers)
        deep = _deep_incident_page(first, ids)
        if deep is not None:
            cases.insert(
                [c.name for c in cases].index("incidents, open"),
                Case("incidents, deep", "incidents/", deep),
            )
        for case in cases:
            if args.only and args.only not in case.name:
                continue
            status, queries = _count_queries(case, api if case.api else session)
            headers = api_headers if case.api else ui_headers
            timed = _time(web.pid, port, case, headers, args.repeat, args.case_seconds)
            case.result = {**timed, "queries": queries, "in_process_status": status}
            print(f"{case.name}: {timed['p50_ms']} / {timed['p99_ms']} ms", file=sys.stderr)
    finally:
        procfile.stop(web)
        fake.stop()
    measured = [c for c in cases if c.result]
    worst = max((c.result["p99_ms"] for c in measured), default=None)
    out = {
        "benchmark": "read_paths",
        "organization": world.domain,
        "data": data,
        "sizes": {
            "incidents": args.incidents,
            "services": args.services,
            "people": args.people,
            "teams": args.teams,
        },
        "repeat": args.repeat,
        "list_routes_without_a_case": missing,
        "cases": [
            {"name": c.name, "route": c.route, "url": c.url, "result": c.result} for c in measured
        ],
        "over_target": [c.name for c in measured if c.result["p99_ms"] >= TARGET_P99_MS],
        "worst_p99_ms": worst,
        "target_p99_ms_below": TARGET_P99_MS,
        "non_200": [c.name for c in measured if c.result["status"] != 200],
        "cpus": os.cpu_count(),
        "load_average_at_start": load,
        "load_average_at_end": os.getloadavg(),
    }
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    print(_table(out), file=sys.stderr)


if __name__ == "__main__":
    main()
