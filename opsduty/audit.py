"""The audit log of configuration changes (docs/accounts.md, "Audit log").

Recording is django-auditlog's: a registered model's saves and deletes (model signals) write
an `opsduty.models.AuditLogEntry` (`AUDITLOG_LOGENTRY_MODEL`), which adds the organization,
the channel and an actor label to the library's entry. This module is what the rest of the
code uses:

* `acting(actor=..., actor_label=..., channel=..., ip=...)`: who is changing things, and
  from where, for the block it wraps. `AuditContextMiddleware` sets it for every web request
  (the signed-in person, "web", the client IP); the API sets the token's person, the token
  (its name, or the OAuth application's) and "api" after authentication
  (opsduty/api/base.py); Celery tasks say "task", and without any
  context (the shell, a management command) an entry says "system" and "shell". SCIM and
  SSO code wraps its writes in `acting(actor_label="SCIM: <client>", channel="scim", ...)`.
* `audit_register(model, fields=[...], masked=[...], m2m=[...], label=...)`: record a model.
  Each app registers its own configuration models in its `AppConfig.ready` (the core imports
  no app). Only the listed fields are recorded; a field that holds a secret (by type or by
  name) must be listed in `masked`, or registration fails: its changes read "(hidden)".
* `audit_record(instance=..., action=..., changes=...)`: an entry written by hand, for the
  writes that bypass model signals (`QuerySet.update()`, `bulk_update`).

Hot-path data (incidents, events, notifications, escalation runs, check-ins) is never
registered; a save that changes only untracked fields (a heartbeat's deadline, a token's
last use, a person's last sign-in) costs no query and writes nothing.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from ipaddress import ip_address
from typing import Any

from auditlog import receivers
from auditlog.registry import auditlog
from django.db import models
from django.db.models import Q
from django.db.models.signals import pre_save
from django.http import HttpRequest, HttpResponse

from opsduty.crypto import EncryptedTextField, SecretDigestField
from opsduty.models import AuditChannel, AuditLogEntry, Organization, User

__all__ = [
    "Acting",
    "AuditContextMiddleware",
    "acting",
    "acting_as",
    "acting_update",
    "audit_record",
    "audit_register",
    "current_acting",
    "token_label",
]

SYSTEM = "system"
HIDDEN = "(hidden)"
REMOVED = "(removed)"
DELETED_PERSON = "a deleted user"

ACTIONS = {"create": AuditLogEntry.Action.CREATE, "update": AuditLogEntry.Action.UPDATE}
ACTIONS["delete"] = AuditLogEntry.Action.DELETE


@dataclass(frozen=True)
class Acting:
    """Who changes things and from where: a person (`actor`) or a label ("system", "SCIM:
    Okta"), the channel (`AuditChannel`: web, api, scim, sso, slack, phone, task, shell) and
    the client's IP address (None outside a request)."""

    actor: User | None = None
    actor_label: str = SYSTEM
    channel: str = AuditChannel.SHELL
    ip: str | None = None


_acting: ContextVar[Acting | None] = ContextVar("opsduty_audit_acting", default=None)


def current_acting() -> Acting:
    """The acting context in force (without one: the system, from the shell)."""
    return _acting.get() or Acting()


def _checked(actor: User | None, actor_label: str, channel: str, ip: str | None) -> Acting:
    if channel not in AuditChannel.values:
        raise ValueError(f"unknown audit channel {channel!r}: one of {AuditChannel.values}")
    # With a person, the label says how they acted (an API token's name); without, who did.
    label = actor_label if actor is not None else (actor_label or SYSTEM)
    return Acting(actor=actor, actor_label=label[:200], channel=channel, ip=ip_or_none(ip))


@contextlib.contextmanager
def acting(
    *,
    actor: User | None = None,
    actor_label: str = "",
    channel: str,
    ip: str | None = None,
) -> Iterator[Acting]:
    """Record the changes made inside the block as `actor`'s (a person; `actor_label` then
    says how: 'API token "Grafana sync"') or, without one, as `actor_label`'s ("SCIM: Okta";
    empty: "system"), through `channel`, from `ip`."""
    token = _acting.set(_checked(actor, actor_label, channel, ip))
    try:
        yield current_acting()
    finally:
        _acting.reset(token)


@contextlib.contextmanager
def acting_as(actor: User) -> Iterator[Acting]:
    """The block's changes are `actor`'s, through the channel and IP already in force (a
    person who just accepted an invitation or followed an address-change link)."""
    now = current_acting()
    with acting(actor=actor, channel=now.channel, ip=now.ip) as inner:
        yield inner


def acting_update(
    *, actor: User | None = None, actor_label: str = "", channel: str | None = None
) -> None:
    """Change the context in force for the rest of the request: the API, which knows the
    token's person only after authentication, inside the middleware's `acting` block (whose
    end restores what was there before). Outside any block (a view called without the
    middleware) it does nothing: the change would outlive its caller."""
    now = _acting.get()
    if now is None:
        return
    _acting.set(_checked(actor, actor_label, channel or now.channel, now.ip))


def token_label(access_token: Any) -> str:
    """How an API caller acted: 'API token "Grafana sync"' (a personal token) or 'OAuth
    application "Grafana"' (its application); "" for none. The token's ApiToken row and
    application are loaded with it (opsduty/api/oauth.py): no query."""
    if access_token is None:
        return ""
    with contextlib.suppress(models.ObjectDoesNotExist):
        return f'API token "{access_token.api_token.name}"'
    application = getattr(access_token, "application", None)
    return f'OAuth application "{application.name}"' if application is not None else "API"


def ip_or_none(value: str | None) -> str | None:
    """`value` if it is an IP address (a unix socket peer is not)."""
    try:
        return str(ip_address(value or ""))
    except ValueError:
        return None


class AuditContextMiddleware:
    """Every request's changes are the signed-in person's, through "web" ("api" under
    /api/, where opsduty/api/base.py names the token's person), from the client's IP
    (REMOTE_ADDR: uvicorn takes it from X-Forwarded-For of trusted proxies only)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        person = user if user is not None and user.is_authenticated else None
        api = request.path_info.startswith("/api/")
        with acting(
            actor=person,
            actor_label="" if person is not None else "signed-out visitor",
            channel=AuditChannel.API if api else AuditChannel.WEB,
            ip=request.META.get("REMOTE_ADDR"),
        ):
            return self.get_response(request)


# --- Registration -------------------------------------------------------------------------

_SECRET_NAME = re.compile(r"password|token|secret|hash|(^|_)key($|_)|salt")
_labels: dict[type[models.Model], Callable[[Any], str]] = {}
_tracked: dict[type[models.Model], frozenset[str]] = {}
_kinds: dict[type[models.Model], str] = {}


def secret_field(name: str) -> bool:
    """A field whose name says it holds a secret (a password, token, key, hash, salt): the
    log never shows its values, masked at registration or not."""
    return _SECRET_NAME.search(name) is not None


def mask(value: str) -> str:
    """What an entry keeps of a masked field (AUDITLOG_MASK_CALLABLE): nothing of it."""
    return HIDDEN


def audit_register(
    model: type[models.Model],
    *,
    fields: Sequence[str],
    masked: Sequence[str] = (),
    m2m: Sequence[str] = (),
    label: Callable[[Any], str] | None = None,
    kind: str = "",
) -> None:
    """Record creations, changes of `fields` and deletions of `model`'s rows (call it from
    the app's `AppConfig.ready`). `masked` fields are recorded as "(hidden)": every field
    that holds a secret must be one; `m2m` fields record the objects added and removed;
    `label(instance)` names a row in the log (default: `str(instance)`); `kind` names the
    model on the page (default: its verbose name, "Escalation policy")."""
    names = {f.name: f for f in model._meta.get_fields()}
    for name in [*fields, *m2m]:
        if name not in names:
            raise ValueError(f"audit_register: {model.__name__} has no field {name!r}")
        secret = isinstance(names[name], EncryptedTextField | SecretDigestField)
        if (secret or secret_field(name)) and name not in masked:
            raise ValueError(f"audit_register: {model.__name__}.{name} holds a secret: mask it")
    if label is not None:
        _labels[model] = label
    if kind:
        _kinds[model] = kind
    _tracked[model] = frozenset([*fields, *(getattr(names[n], "attname", n) for n in fields)])
    auditlog.register(
        model, include_fields=list(fields), mask_fields=list(masked), m2m_fields=set(m2m)
    )


def _tracked_only(receiver: Callable[..., None]) -> Callable[..., None]:
    """django-auditlog reads the old row before every save of a registered model; a save
    of only untracked fields (a heartbeat's deadline from the miss detector, a person's
    last sign-in) skips that query and the entry."""

    @wraps(receiver)
    def log_update(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        tracked = _tracked.get(sender)
        if update_fields is not None and tracked is not None and tracked.isdisjoint(update_fields):
            return
        receiver(sender=sender, instance=instance, **kwargs)

    return log_update


# Must happen before the first registration: the registry connects this receiver per model.
auditlog._signals[pre_save] = _tracked_only(receivers.log_update)


def organization_id_of(instance: models.Model) -> int | None:
    """The organization a recorded row belongs to (an OAuth application: its user's)."""
    if isinstance(instance, Organization):
        return instance.pk
    organization_id = getattr(instance, "organization_id", None)
    if organization_id is None and getattr(instance, "user_id", None) is not None:
        user = getattr(instance, "user", None)
        organization_id = getattr(user, "organization_id", None)
    return organization_id


def entry_fields(instance: models.Model) -> dict[str, Any] | None:
    """The fields of a new entry that django-auditlog does not know: the organization, who
    acted and from where, and the row's label. None: the row belongs to no organization
    (nothing is recorded)."""
    organization_id = organization_id_of(instance)
    if organization_id is None:
        return None
    now = current_acting()
    fields: dict[str, Any] = {
        "organization_id": organization_id,
        "channel": now.channel,
        "remote_addr": now.ip,
        "actor": now.actor,
        "actor_label": now.actor_label,
    }
    label = _labels.get(type(instance))
    if label is not None:
        with contextlib.suppress(models.ObjectDoesNotExist):  # a parent deleted first
            fields["object_repr"] = label(instance)
    return fields


def audit_record(
    *, instance: models.Model, action: str, changes: dict[str, tuple[Any, Any]]
) -> AuditLogEntry | None:
    """Write an entry by hand for a change that model signals do not see (an UPDATE or a
    bulk_update): `action` is create, update or delete; `changes` {field: (old, new)}."""
    if not changes and action == "update":
        return None
    masked = set()
    if auditlog.contains(type(instance)):
        masked = set(auditlog.get_model_fields(type(instance))["mask_fields"])
    stored = {
        name: [HIDDEN, HIDDEN] if name in masked else [_text(old), _text(new)]
        for name, (old, new) in changes.items()
    }
    entry: AuditLogEntry | None = AuditLogEntry.objects.log_create(
        instance, force_log=True, action=ACTIONS[action], changes=stored
    )
    return entry


def _text(value: Any) -> str:
    if isinstance(value, models.Model):
        return str(value)
    return "None" if value is None else str(value)


# --- A deleted person ---------------------------------------------------------------------

_PERSONAL_FIELDS = ("email", "first_name", "last_name", "phone_number")
_MIN_SCRUB = 4  # shorter names are left alone: they would rewrite other words


def person_values(user: User) -> set[str]:
    """What the log may hold of a person: every address, name and phone number they had
    (their current ones, and those their own entries changed), full name included."""
    values = {getattr(user, name) for name in _PERSONAL_FIELDS} | {person_label(user)}
    values.add(f"{user.first_name} {user.last_name}".strip())
    for changes in _own_entries(user).values_list("changes", flat=True):
        for name in _PERSONAL_FIELDS:
            values.update(str(v) for v in (changes or {}).get(name, []))
    return {v for v in values if len(v) >= _MIN_SCRUB and v not in ("None", HIDDEN)}


def _own_entries(user: User) -> models.QuerySet[AuditLogEntry]:
    entries: models.QuerySet[AuditLogEntry]
    entries = AuditLogEntry.objects.filter(organization_id=user.organization_id)
    return entries.filter(
        content_type__app_label="opsduty", content_type__model="user", object_id=user.pk
    )


def person_audit_scrub(user: User, values: set[str]) -> None:
    """Remove a deleted person's `values` (`person_values`, read before the deletion) from
    the organization's entries, labels and changes, keeping the entries: the person's own
    entries and every row that named them say "a deleted user" (opsduty/services.py
    `user_delete`, at its end, after every row of theirs is gone)."""
    entries = AuditLogEntry.objects.filter(organization_id=user.organization_id)
    own = list(_own_entries(user))
    for entry in own:
        changes = entry.changes or {}
        for name in _PERSONAL_FIELDS:
            if name in changes:
                changes[name] = [REMOVED if v not in ("", "None") else v for v in changes[name]]
        entry.changes = changes
        entry.object_repr = DELETED_PERSON
        entry.actor_email = None
        entry.save(update_fields=["changes", "object_repr", "actor_email"])
    entries.filter(actor=user).update(actor_email=None)
    if not values:
        return
    ordered = sorted(values, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE)
    naming = Q()
    for value in values:
        naming |= Q(object_repr__icontains=value) | Q(changes__icontains=value)
    for entry in entries.filter(naming).exclude(pk__in=[e.pk for e in own]):
        entry.object_repr = pattern.sub(DELETED_PERSON, entry.object_repr)
        entry.changes = _scrubbed(entry.changes, pattern)
        entry.save(update_fields=["changes", "object_repr"])


def _scrubbed(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(DELETED_PERSON, value)
    if isinstance(value, list):
        return [_scrubbed(v, pattern) for v in value]
    if isinstance(value, dict):
        return {k: _scrubbed(v, pattern) for k, v in value.items()}
    return value


# --- The core's own models ----------------------------------------------------------------


def person_label(user: User) -> str:
    """A person in the log: their name and address (scrubbed when they are deleted)."""
    if user.deleted_at is not None:
        return DELETED_PERSON
    name = f"{user.first_name} {user.last_name}".strip()
    return f"{name} <{user.email}>" if name else user.email


def core_models_register() -> None:
    """The core's configuration: the organization, people, teams, invitations, address
    changes, API tokens, OAuth applications, services (OpsdutyConfig.ready)."""
    from oauth2_provider.models import Application

    from opsduty.models import (
        ApiToken,
        EmailChange,
        Invitation,
        Label,
        Service,
        Team,
        TeamMembership,
    )

    audit_register(Organization, fields=["name", "time_zone", "closed_at"])
    audit_register(
        User,
        fields=[
            "email",
            "first_name",
            "last_name",
            "role",
            "phone_number",
            "time_zone",
            "is_active",
            "is_staff",
            "deleted_at",
            "password",
        ],
        masked=["password"],
        label=person_label,
        kind="Person",
    )
    audit_register(Team, fields=["name"])
    audit_register(
        TeamMembership,
        fields=["team", "user"],
        label=lambda m: f"{person_label(m.user)} in {m.team.name}",
    )
    audit_register(Label, fields=["name", "color", "group", "team"])
    audit_register(
        Invitation,
        fields=["email", "role", "expires_at", "revoked_at", "accepted_at", "accepted_by"],
        m2m=["teams"],
    )
    audit_register(
        EmailChange,
        fields=["user", "new_email", "confirmed_at"],
        label=lambda c: f"{person_label(c.user)} to {c.new_email}",
    )
    audit_register(
        ApiToken, fields=["name", "user"], label=lambda t: f"{t.name} of {person_label(t.user)}"
    )
    audit_register(
        Application,
        fields=["name", "client_id", "client_type", "authorization_grant_type", "redirect_uris"],
    )
    audit_register(
        Service,
        fields=[
            "name",
            "description",
            "service_type",
            "team",
            "slack_channel",
            "escalation_policy",
            "maintenance_mode",
            "maintenance_window_start",
            "maintenance_window_end",
            "routing_key",
        ],
        masked=["routing_key"],
    )


def audit_kinds() -> list[tuple[str, str]]:
    """The kinds of recorded rows as (app_label.model, "Escalation policy"), by name."""
    kinds = [
        (f"{model._meta.app_label}.{model._meta.model_name}", kind_label(model))
        for model in auditlog.get_models()
    ]
    return sorted(kinds, key=lambda kind: kind[1])


def kind_label(model: type[models.Model] | None) -> str:
    """A kind of row as people say it: "Escalation policy", "Api token" -> "API token"."""
    if model is None:
        return "Removed kind"
    if model in _kinds:
        return _kinds[model]
    name = str(model._meta.verbose_name)
    return (name[:1].upper() + name[1:]).replace("Api ", "API ").replace("Oauth", "OAuth")
