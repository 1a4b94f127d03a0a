"""Reads of the live stream: who a session belongs to, and open incident counts.

Synchronous Django code: the stream runs them in a worker thread (`hub.run_sync`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.db.models import Count, Q
from django.utils.crypto import constant_time_compare

from incidents.models import OPEN_STATUSES
from incidents.selectors import IncidentFilters, incident_list
from opsduty.models import Organization, Service, User
from opsduty.tenancy import scoped


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in browser session, as far as the stream needs it."""

    session_key: str
    user_id: int
    organization: Organization
    # The teams whose services (and incidents) the user sees; None: every team (owners).
    team_ids: frozenset[int] | None

    def sees(self, team_id: int) -> bool:
        return self.team_ids is None or team_id in self.team_ids


def _session_user(session_key: str) -> User | None:
    """The active user the session signs in, verified as Django's `auth.get_user` does.

    Without its side effects: a session whose hash does not match is refused here, not
    flushed, and one signed with a fallback secret is accepted but not rotated (the page's
    next request does both), so a stream never changes a session under the browser's feet.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    try:
        user_id = store[SESSION_KEY]
        backend_path = store[BACKEND_SESSION_KEY]
        session_hash = store.get(HASH_SESSION_KEY) or ""
    except KeyError:
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)
    if not isinstance(user, User) or not user.is_active or not session_hash:
        return None
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(session_hash, known) for known in hashes):
        return None
    return user


def viewer_get(*, session_key: str) -> Viewer | None:
    """The viewer of a valid session of an active user, or None."""
    user = _session_user(session_key)
    if user is None:
        return None
    team_ids = None if user.is_owner else frozenset(user.teams.values_list("id", flat=True))
    return Viewer(session_key, user.pk, user.organization, team_ids)


def organization_open_counts(*, organization: Organization) -> dict[int, tuple[int, int]]:
    """Every service of the organization: service id -> (team id, open unarchived incidents).

    One query; with a viewer's teams it answers both "may this viewer hear of an incident on
    this service" and the viewer's open count, the same rule as `incident_list`.
    """
    rows = (
        scoped(Service, organization)
        .annotate(
            open=Count(
                "incidents",
                filter=Q(incidents__status__in=OPEN_STATUSES, incidents__archived_at=None),
            )
        )
        .values_list("id", "team_id", "open")
    )
    return {service_id: (team_id, count) for service_id, team_id, count in rows}


def viewer_open_count(viewer: Viewer, counts: dict[int, tuple[int, int]]) -> int:
    """Open incidents on the services the viewer sees."""
    return sum(count for team_id, count in counts.values() if viewer.sees(team_id))


def incident_open_count(*, user: User) -> int:
    """Open, unarchived incidents on the services the user sees (the tab title's number)."""
    return incident_list(user=user, filters=IncidentFilters(status=list(OPEN_STATUSES))).count()
