"""Reads of the tenancy core and of services; every selector takes the organization (or a user
of it) explicitly."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from oauth2_provider.models import Application

from opsduty.audit import ACTIONS as AUDIT_ACTIONS
from opsduty.choices import OPEN_STATUSES
from opsduty.models import (
    ApiToken,
    AuditLogEntry,
    Invitation,
    Label,
    Organization,
    Role,
    Service,
    Team,
    User,
)
from opsduty.tenancy import get_for_org_or_404, scoped


def invitation_waiting_list(*, organization: Organization) -> QuerySet[Invitation]:
    """Invitations not accepted nor revoked (expired ones too: they can be sent again),
    newest first, with their teams and who sent them."""
    return (
        scoped(Invitation, organization)
        .filter(accepted_at=None, revoked_at=None)
        .select_related("invited_by")
        .prefetch_related("teams")
        .order_by("-sent_at", "-id")
    )


def user_list(*, organization: Organization) -> QuerySet[User]:
    """Members of the organization, oldest first (deleted people are not members)."""
    return scoped(User, organization).filter(deleted_at=None).order_by("id")


def team_list(*, organization: Organization) -> QuerySet[Team]:
    """Teams of the organization with their member counts, by name."""
    return scoped(Team, organization).annotate(member_count=Count("memberships")).order_by("name")


def team_members(*, team: Team) -> QuerySet[User]:
    """Members of one team, by email."""
    return User.objects.filter(memberships__team=team).order_by("email")


def application_list(*, organization: Organization) -> QuerySet[Application]:
    """OAuth2 applications created by users of `organization`, newest first."""
    if not isinstance(organization, Organization):
        raise TypeError("application_list() needs an Organization")
    applications: QuerySet[Application] = (
        Application.objects.filter(user__organization=organization)
        .select_related("user")
        .order_by("-created", "-id")
    )
    return applications


def application_get_or_404(*, organization: Organization, application_id: int) -> Application:
    """One application of `organization`; the same 404 for missing and foreign ids."""
    application = application_list(organization=organization).filter(pk=application_id).first()
    if application is None:
        raise Http404("Not found.")
    return application


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's own personal API tokens, newest first."""
    return scoped(ApiToken, user.organization).filter(user=user).select_related("access_token")


def api_token_org_list(*, organization: Organization) -> QuerySet[ApiToken]:
    """Every personal API token of the organization's users (for owners), newest first."""
    return scoped(ApiToken, organization).select_related("access_token", "user")


def api_token_get_or_404(*, user: User, token_id: int) -> ApiToken:
    """A token `user` may revoke: their own, or (owners) any of the organization's; else 404."""
    tokens = api_token_org_list(organization=user.organization)
    if not user.is_owner:
        tokens = tokens.filter(user=user)
    return get_for_org_or_404(tokens, user.organization, pk=token_id)


def service_visible_list(*, user: User) -> QuerySet[Service]:
    """Services the user can see: all of the organization for owners, else their teams'."""
    services = scoped(Service, user.organization)
    if user.is_owner:
        return services
    return services.filter(team__in=user.teams.all())


def service_list(*, user: User) -> QuerySet[Service]:
    """Visible services with their team, oldest first (counts: `service_open_counts`)."""
    return service_visible_list(user=user).select_related("team").order_by("id")


def service_open_counts(*, service_ids: Iterable[int]) -> dict[int, int]:
    """Open, unarchived incidents of each of these services (absent: none), in one query
    over the index of open incidents (`incident_open_by_service`)."""
    return dict(
        Service.objects.filter(
            pk__in=list(service_ids),
            incidents__status__in=OPEN_STATUSES,
            incidents__archived_at=None,
        )
        .values("pk")
        .annotate(open_incidents=Count("incidents"))
        .values_list("pk", "open_incidents")
    )


def service_get(*, user: User, service_id: int) -> Service:
    """One service the user may see, or 404 (also for other organizations' ids)."""
    return get_for_org_or_404(
        service_visible_list(user=user).select_related("team", "escalation_policy"),
        user.organization,
        pk=service_id,
    )


def maintenance_in_effect(*, mode: str | None, end: datetime | None, now: datetime) -> bool:
    """The one rule for "in maintenance at `now`": a mode is set and its window has not ended
    (a passed end reads as "not in maintenance" before the sweeper clears it)."""
    return bool(mode) and end is not None and end > now


def service_maintenance_active(service: Service, now: datetime) -> bool:
    """The service is in maintenance at `now` (`maintenance_in_effect`)."""
    return maintenance_in_effect(
        mode=service.maintenance_mode, end=service.maintenance_window_end, now=now
    )


def service_escalation_paused(service: Service, now: datetime) -> bool:
    """Whether the escalation engine must page nobody for `service` at `now`.

    True during either mode: `debug` pauses escalation outright, and under `maintenance` the
    incidents are attached to the maintenance incident, which never escalates.
    """
    return service_maintenance_active(service, now)


def team_manageable_list(*, user: User) -> QuerySet[Team]:
    """Teams whose services, rules, policies, schedules and heartbeats the user may manage,
    by name (owners: all; members: theirs; stakeholders: none). The one rule; a single team
    is checked with `opsduty.services.can_manage_team`."""
    teams = scoped(Team, user.organization).order_by("name")
    if user.is_owner:
        return teams
    if user.role != Role.MEMBER:
        return teams.none()
    return teams.filter(memberships__user=user)


def can_see_routing_key(user: User) -> bool:
    """Routing keys let a caller raise incidents: owners and members of the owning team.

    Members only ever see their own teams' services, so their visible services all carry the
    key; stakeholders are read-only and get `""` (spec §3.7 for services a team does not own).
    """
    return user.is_owner or user.role == Role.MEMBER


@cache
def timezone_names() -> frozenset[str]:
    """Every IANA time zone name this machine knows (schedules, heartbeats, people)."""
    return frozenset(zoneinfo.available_timezones())


def label_list(*, organization: Organization) -> QuerySet[Label]:
    """Every label of the organization, by group then name (the labels page)."""
    return scoped(Label, organization).select_related("team").order_by("group", "name", "pk")


def label_group_names(*, organization: Organization) -> list[str]:
    """The organization's label groups, for the pickers' suggestions."""
    groups = scoped(Label, organization).exclude(group="").values_list("group", flat=True)
    return sorted(set(groups), key=str.casefold)


def labels_usable(*, organization: Organization, team_id: int | None) -> QuerySet[Label]:
    """The labels a resource of `team_id` may carry: organization labels and that team's."""
    labels = scoped(Label, organization).order_by("group", "name", "pk")
    if team_id is None:
        return labels.filter(team__isnull=True)
    return labels.filter(Q(team__isnull=True) | Q(team_id=team_id))


def label_get_or_404(*, organization: Organization, label_id: int) -> Label:
    return get_for_org_or_404(Label, organization, pk=label_id)


@dataclass(frozen=True)
class AuditFilters:
    """The audit log's filters: a person (`actor_id`) or the system (`system`), a kind of row
    ("app_label.model"), an action (create, update, delete), a channel ("web", "api"), a
    time range [since, until) and text of the row's label, its changes or the actor's label."""

    actor_id: int | None = None
    system: bool = False
    kind: str = ""
    action: str = ""
    channel: str = ""
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""


def audit_entry_list(
    *, organization: Organization, filters: AuditFilters
) -> QuerySet[AuditLogEntry]:
    """The organization's audit entries matching `filters` (order them: newest first is
    `-timestamp`, `-id`, the index `audit_org_time`), with their kind and actor."""
    entries = scoped(AuditLogEntry, organization).select_related("content_type", "actor")
    if filters.actor_id is not None:
        entries = entries.filter(actor_id=filters.actor_id)
    elif filters.system:
        entries = entries.filter(actor=None)
    if filters.kind:
        app_label, _, model = filters.kind.partition(".")
        entries = entries.filter(content_type__app_label=app_label, content_type__model=model)
    if filters.action:
        entries = entries.filter(action=AUDIT_ACTIONS[filters.action])
    if filters.channel:
        entries = entries.filter(channel=filters.channel)
    if filters.since is not None:
        entries = entries.filter(timestamp__gte=filters.since)
    if filters.until is not None:
        entries = entries.filter(timestamp__lt=filters.until)
    if filters.text:
        text = filters.text
        entries = entries.filter(
            Q(object_repr__icontains=text)
            | Q(actor_label__icontains=text)
            | Q(changes__icontains=text)  # the JSON's text: masked values read "(hidden)"
        )
    return entries
