"""Reads behind the commands, as the answers Slack shows: the open incidents of a person's
teams (`/opsduty incidents`), who is on call (`/who`, the same code as API #20 and the service
page), and the services a person may trigger incidents on (the trigger modal). Everything is
scoped to the person's organization and visibility, as in the UI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from escalations.engine.targets import service_oncall
from incidents.models import Incident
from incidents.selectors import IncidentFilters, incident_list
from integrations.slack.messages.blocks import mrkdwn_escape
from integrations.slack.selectors import public_url
from opsduty.choices import OPEN_STATUSES
from opsduty.models import Service, User
from opsduty.selectors import service_visible_list, team_manageable_list
from opsduty.tenancy import scoped

__all__ = [
    "LISTED_MAX",
    "ServiceMatch",
    "incidents_answer",
    "oncall_answer",
    "person_name",
    "service_match",
    "triggerable_services",
]

LISTED_MAX = 20
SUMMARY_SHOWN = 150


def person_name(user: User) -> str:
    """A name, never a mention: nobody is pinged by an answer."""
    return mrkdwn_escape(user.get_full_name() or user.email)


def _summary(text: str) -> str:
    line = " ".join(text.split())
    return mrkdwn_escape(line if len(line) <= SUMMARY_SHOWN else line[: SUMMARY_SHOWN - 1] + "…")


def incident_line(incident: Incident) -> str:
    """The line "#N summary (status, urgency, service)", number and summary linking to it."""
    url = public_url(reverse("incident_short_link", kwargs={"incident_id": incident.pk}))
    details = (
        f"{incident.get_status_display().lower()}, {incident.get_urgency_display().lower()}, "
        f"{mrkdwn_escape(incident.service.name)}"
    )
    return f"<{url}|#{incident.number} {_summary(incident.summary)}> ({details})"


def incidents_answer(user: User) -> str:
    """The open incidents of the person's teams' services (owners: all), newest first."""
    incidents = incident_list(user=user, filters=IncidentFilters(status=list(OPEN_STATUSES)))
    shown = list(incidents[:LISTED_MAX])
    if not shown:
        return "No open incidents on your teams' services. :tada:"
    total = len(shown) if len(shown) < LISTED_MAX else incidents.count()
    head = f"*{total} open incident{'s' if total != 1 else ''}*"
    if total > len(shown):
        head += f" (the newest {len(shown)}; all of them: {public_url(reverse('incident_list'))})"
    return "\n".join([head + ":", *(f"• {incident_line(i)}" for i in shown)])


@dataclass(frozen=True)
class ServiceMatch:
    """The service a name means, or the candidates when it is ambiguous (none: unknown)."""

    service: Service | None
    candidates: list[Service] = field(default_factory=list)


def service_match(services: QuerySet[Service], query: str) -> ServiceMatch:
    """The service named `query` (case-insensitive): an exact name first, then the only name
    that starts with it."""
    query = query.strip()
    exact = list(services.filter(name__iexact=query).order_by("name")[:LISTED_MAX])
    if len(exact) == 1:
        return ServiceMatch(exact[0])
    if exact:  # names unique but for case ("API" and "api")
        return ServiceMatch(None, exact)
    prefixed = list(services.filter(name__istartswith=query).order_by("name")[: LISTED_MAX + 1])
    if len(prefixed) == 1:
        return ServiceMatch(prefixed[0])
    return ServiceMatch(None, prefixed)


def _oncall_line(service: Service, now: datetime) -> str:
    name = f"*{mrkdwn_escape(service.name)}*"
    if service.escalation_policy_id is None:
        return f"{name}: nobody (the service has no escalation policy)"
    people = service_oncall(service, now)
    if not people:
        return f"{name}: nobody on call right now"
    return f"{name}: {', '.join(person_name(user) for user in people)}"


def _names(services: list[Service]) -> str:
    names = ", ".join(mrkdwn_escape(s.name) for s in services[:LISTED_MAX])
    return names + (", …" if len(services) > LISTED_MAX else "")


def oncall_answer(user: User, query: str) -> str:
    """Who is on call now for the service named `query`, or (no query) for each of the
    person's teams' services (owners: all), at most LISTED_MAX."""
    services = service_visible_list(user=user).order_by("name")
    now = timezone.now()
    if query.strip():
        match = service_match(services, query)
        if match.service is not None:
            return f"On call now for {_oncall_line(match.service, now)}"
        if match.candidates:
            return (
                f"“{mrkdwn_escape(query)}” matches several services: "
                f"{_names(match.candidates)}. Type more of the name."
            )
        known = list(services[: LISTED_MAX + 1])
        listed = f" Your services: {_names(known)}." if known else ""
        return f"No service named “{mrkdwn_escape(query)}”.{listed}"
    shown = list(services.select_related("escalation_policy")[: LISTED_MAX + 1])
    if not shown:
        return "Your teams have no services."
    lines = [_oncall_line(service, now) for service in shown[:LISTED_MAX]]
    if len(shown) > LISTED_MAX:
        lines.append(f"… and more: `/who <service>` names one ({services.count()} in all).")
    return "\n".join(["*On call now:*", *lines])


def triggerable_services(user: User) -> QuerySet[Service]:
    """The services `user` may open an incident on by hand: those of the teams they manage
    (the service page's rule: owners all, members their teams', stakeholders none), by name."""
    teams = team_manageable_list(user=user).values("id")
    return scoped(Service, user.organization).filter(team_id__in=teams).order_by("name")
