"""Which routes are list pages or API lists (issue 20, item 5: every one of them answers in
bounded queries, tests/test_read_paths_queries.py; and fast at 100,000 incidents,
bench/read_paths.py).

Every route of the URLconfs is either in LIST_ROUTES or is not a list for a reason: in
NOT_LISTS by name, or matched by one of the NOT_LIST_PATTERNS (forms and actions), or under
one of the SKIPPED_PREFIXES (protocol surfaces). `unclassified_routes()` lists any other: a
new route must be put in one of them, and a new list then needs its query-count case.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver

# Route pattern (as the URLconfs spell it, from the root) -> what it lists.
LIST_ROUTES: dict[str, str] = {
    "members/": "the organization's people",
    "teams/": "teams with member counts",
    "teams/<int:team_id>/": "a team's members",
    "profile/tokens/": "my personal API tokens",
    "settings/tokens/": "every personal API token",
    "settings/developer/": "OAuth applications",
    "settings/audit/": "the audit log, filtered, paged",
    "settings/audit/export.csv": "the audit log, filtered, CSV (streamed)",
    "incidents/": "incidents, filtered, paged",
    "incidents/rows/": "the incident list's rows (live refresh)",
    "services/": "services with open-incident counts",
    "services/<int:service_id>/": "a service's open incidents",
    "profile/notifications/": "my notification rules",
    "escalation-policies/": "policies with step and service counts",
    "escalation-policies/<int:policy_id>/": "a policy's steps and services",
    "schedules/": "schedules with who is on call",
    "schedules/<int:schedule_id>/": "a schedule's shifts and overrides",
    "profile/calendars/": "my shifts",
    "settings/diagnostics/": "findings over policies, schedules and people",
    "routing-rules/": "routing rules with route counts",
    "routing-rules/<int:routing_rule_id>/": "a rule's routes",
    "receive-channels/": "receive channels",
    "webhooks/": "webhooks with their last day's events",
    "webhooks/<int:webhook_id>/": "a webhook's recent raw events",
    "raw-events/": "raw events, filtered, paged",
    "heartbeats/": "heartbeats with their environments",
    "labels/": "labels by group",
    "heartbeats/<int:heartbeat_id>/": "a heartbeat's environments and check-ins",
    "settings/telephony/": "Twilio numbers and their destinations",
    "settings/slack/": "services with their Slack channel",
    "analytics/": "analytics overview",
    "analytics/csv/": "analytics overview, CSV",
    "analytics/over-time/csv/": "incidents over time, CSV",
    "analytics/services/": "analytics by service",
    "analytics/services/csv/": "analytics by service, CSV",
    "analytics/policies/": "analytics by policy",
    "analytics/policies/csv/": "analytics by policy, CSV",
    "analytics/teams/": "analytics by team",
    "analytics/teams/csv/": "analytics by team, CSV",
    "analytics/responders/": "analytics by responder",
    "analytics/responders/csv/": "analytics by responder, CSV",
    "status-pages/": "status pages with headline status and open notices",
    "status-pages/<int:status_page_id>/": "a page's groups, components and notices",
    "status-pages/notices/<int:notice_id>/": "a notice's updates",
    "api/v1/users/": "#21 users",
    "api/v1/heartbeats/": "#1 heartbeats",
    "api/v1/services/": "#19 services",
    "api/v1/services/<int:service_id>/oncall/": "#20 on call for a service",
    "api/v1/schedules/": "#14 schedules",
    "api/v1/schedules/<int:schedule_id>/shifts/": "#15 shifts",
    "api/v1/schedules/<int:schedule_id>/overrides/": "#16 overrides",
    "api/v1/incidents/": "#10 incidents",
    "api/v1/incidents/<int:incident_group_id>/responders/": "#12 responders",
    "api/v1/receive-channels/": "receive channels",
    "api/v1/statuspages/": "S1 status pages",
    "api/v1/statuspages/<int:status_page_id>/component-groups/": "S2 component groups",
    "api/v1/statuspages/<int:status_page_id>/components/": "S7 components",
    "api/v1/statuspages/<int:status_page_id>/incidents/": "S9 status-page incidents",
    "api/v1/statuspages/incidents/<int:incident_id>/updates/": "S12 an incident's updates",
    "api/v1/statuspages/<int:status_page_id>/uptime/": "S17 each component's uptime",
    "api/v1/analytics/overview/": "analytics overview",
    "api/v1/analytics/services/": "analytics by service",
    "api/v1/analytics/policies/": "analytics by policy",
    "api/v1/analytics/teams/": "analytics by team",
    "api/v1/analytics/responders/": "analytics by responder",
}

# Protocol surfaces: no page, no list (signed callbacks, check-ins, feeds, OAuth, admin).
# SCIM (`scim/v2/`) is an identity provider's protocol with its own bearer token; its two
# lists, /Users and /Groups, are paged (200 at most) and their query counts are checked in
# tests/integrations/scim/test_queries.py.
SKIPPED_PREFIXES = (
    "scim/v2/",
    "admin/",
    "oauth2/",
    "integrations/",
    "heartbeats/checkin/",
    "^heartbeats/checkin/",
    "calendar/",
    "slack/link/",
    "dev/",
    "api/v1/^",
    "accounts/",  # SSO protocol endpoints (integrations/sso): SAML ACS, SLS, metadata; OIDC
    # Public status pages (statuspages/public/): served from a cache keyed by the page's
    # version, bounded per page (history is paged 10 a page); bench/statuspage.py measures them.
    "status/",
)

# Forms and actions: the last segment says it (a POST, or a form for one object).
NOT_LIST_PATTERNS = re.compile(
    r"(^|/)(new|create|edit|delete|move|toggle|remove|release|rotate|reorder|replay|try|"
    r"enabled|preview|add|acknowledge|unacknowledge|resolve|unresolve|reopen|silence|attach|"
    r"detach|urgency|escalate|reassign|page|role|revoke|buy|search|install|uninstall|refresh|"
    r"callback|unlink|verify|code|limits|account|maintenance|stop|routing-key|bulk|notes|"
    r"details|password|sign-out-everywhere|copy-settings|environments|destinations|"
    r"time-zone|notification-rules|calendar-feed|channel|channels|debug)/$"
)

# Everything else that is not a list, and why.
NOT_LISTS: dict[str, str] = {
    "healthz": "health probe",
    "readyz": "health probe",
    "": "redirects to the incident list",
    "login/": "sign-in form",
    "logout/": "sign-out",
    "profile/": "my details",
    "incidents/<int:incident_id>/": "one incident (its timeline is the incident's own)",
    "i/<int:incident_id>": "short link: a redirect",
    "settings/archive/": "a form",
    "raw-events/<int:raw_event_id>/": "one raw event",
    "settings/telephony/addresses/": "Twilio's addresses, fetched from Twilio",
    "settings/telephony/numbers/<int:number_id>/": "one number's settings (POST)",
    "profile/phone/": "my phone number",
    "profile/slack/": "my Slack link",
    "receive-channels/<int:channel_id>/debug/": "the template debugger",
    "api/v1/heartbeats/<int:heartbeat_id>/": "#3 one heartbeat",
    "api/v1/heartbeats/states/": "#6 create (POST only)",
    "api/v1/heartbeats/states/<int:heartbeat_state_id>/": "#7/#8 one state",
    "api/v1/heartbeats/checkin/<int:service_id>/<path:name>/<str:environment>": "#9 check-in",
    "api/v1/schedules/<int:schedule_id>/overrides/<int:override_id>/": "#18 delete",
    "api/v1/incidents/incident-reference/<str:incident_reference_id>/": "#13 one reference",
    "api/v1/incidents/<int:incident_group_id>/": "#11 one incident",
    "api/v1/raw-events/<int:raw_event_id>/debug/": "one raw event through a template",
    "api/v1/statuspages/component-groups/<int:component_group_id>/": "S4/S5 one group",
    "api/v1/statuspages/components/<int:component_id>/status/": "S8 set a status (POST)",
    "api/v1/statuspages/incidents/<int:incident_id>/publish/": "S11 publish (POST)",
    "api/v1/statuspages/incidents/<int:incident_id>/postmortem/": "S14/S15 one postmortem",
    "api/v1/statuspages/incidents/<int:incident_id>/postmortem/draft/": "S16 one draft",
    "api/v1/openapi.json": "the OpenAPI document",
    "api/v1/docs": "Swagger UI",
    "members/<int:user_id>/deactivate/": "a warning, then the action (POST)",
    "members/<int:user_id>/reactivate/": "an action (POST)",
    "members/invite/": "a form (POST)",
    "members/invitations/<int:invitation_id>/resend/": "an action (POST)",
    "invitations/<str:token>/": "an invitation's form",
    "profile/email/": "a form (POST)",
    "email-change/<str:token>/": "a confirmation",
    "settings/organization/": "two forms",
    "settings/organization/rename/": "a form (POST)",
    "settings/organization/close/": "a form (POST)",
    "labels/<int:label_id>/promote/": "an action (POST)",
    "settings/sso/": "a form",
    "login/sso/": "an action (POST): on to the identity provider",
    "status-pages/components/<int:component_id>/status/": "an action (POST)",
    "status-pages/notices/<int:notice_id>/publish/": "an action (POST)",
    "status-pages/notices/<int:notice_id>/postmortem/": "the postmortem editor (one text)",
    "status-pages/tell-customers/<int:incident_id>/": "a form (and its POST)",
}


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        else:
            yield route


def all_routes() -> list[str]:
    """Every route of the URLconfs, from the root."""
    return list(dict.fromkeys(_walk(get_resolver().url_patterns)))


def unclassified_routes() -> list[str]:
    """Routes that are neither a list nor said not to be one."""
    return [
        route
        for route in all_routes()
        if route not in LIST_ROUTES
        and route not in NOT_LISTS
        and not route.startswith(SKIPPED_PREFIXES)
        and not NOT_LIST_PATTERNS.search(route)
    ]
