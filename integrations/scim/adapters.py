"""django-scim2's adapters (USER_ADAPTER, GROUP_ADAPTER): a person as a SCIM User, a team as
a SCIM Group, and back. Reading builds the resource; writing (POST, PUT, PATCH) first makes
the new resource's writable attributes (a PATCH applies its operations to the current ones),
then hands them to services.py in one call, whose refusals become SCIM errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.urls import reverse
from django_scim import exceptions
from django_scim.adapters import SCIMGroup, SCIMUser

from integrations.scim import services
from integrations.scim.locations import scim_base_url
from integrations.scim.paths import Path, as_bool, as_text, path_parse
from integrations.scim.schemas import GROUP, USER
from opsduty.models import Team, User

State = dict[str, Any]

# A SCIM id is unique across all resources (RFC 7643 section 3.1): a person is their id
# ("42", as in /members/42/), a team "team-" and its id, so a root /.search that lists both
# never shows two resources with one id.
GROUP_ID_PREFIX = "team-"


def group_id(pk: int) -> str:
    """The SCIM id of the team `pk`."""
    return f"{GROUP_ID_PREFIX}{pk}"


@contextmanager
def refusals_as_scim_errors() -> Iterator[None]:
    """A service's refusal as a SCIM error: 409 for a taken value, 400 otherwise."""
    try:
        yield
    except services.ScimConflict as error:
        raise exceptions.IntegrityError(str(error), scim_type="uniqueness") from None
    except ValidationError as error:
        detail = " ".join(error.messages)
        raise exceptions.BadRequestError(detail, scim_type="invalidValue") from None


def _operations(operations: object) -> list[tuple[str, Path | None, Any]]:
    """(op, path, value) of each operation; op lower-cased (Entra ID writes "Replace")."""
    if not isinstance(operations, list):
        raise exceptions.BadRequestError("Operations must be a list.", scim_type="invalidSyntax")
    parsed = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise exceptions.BadRequestError("Each operation is an object.", "invalidSyntax")
        op = str(operation.get("op", "")).lower()
        if op not in ("add", "remove", "replace"):
            raise exceptions.BadRequestError(
                f"Unknown PATCH op {operation.get('op')!r}.", scim_type="invalidSyntax"
            )
        raw_path = operation.get("path")
        path = path_parse(raw_path) if isinstance(raw_path, str) and raw_path.strip() else None
        if op == "remove" and path is None:
            raise exceptions.BadRequestError("A remove needs a path.", scim_type="noTarget")
        parsed.append((op, path, operation.get("value")))
    return parsed


def _apply(
    state: State,
    operations: object,
    apply_one: Callable[[State, str, Path, Any], None],
) -> State:
    for op, path, value in _operations(operations):
        if path is not None:
            apply_one(state, op, path, value)
            continue
        if not isinstance(value, dict):
            raise exceptions.BadRequestError("Without a path, the value is an object.")
        for key, item in value.items():
            apply_one(state, op, path_parse(key), item)
    return state


class _Selection:
    """`attributes` / `excludedAttributes` of a request (RFC 7644 section 3.9)."""

    ALWAYS = {"id", "schemas"}

    def __init__(self, request: Any) -> None:
        params = getattr(request, "scim_parameters", None) or request.GET
        self.only = self._names(params.get("attributes"))
        self.without = self._names(params.get("excludedAttributes"))

    @staticmethod
    def _names(value: object) -> set[str]:
        names: list[Any] = []
        if isinstance(value, str):
            names = value.split(",")
        elif isinstance(value, list):
            names = value
        return {path_parse(str(name)).attr for name in names if str(name).strip()}

    def apply(self, resource: dict[str, Any]) -> dict[str, Any]:
        if self.only:
            keep = self.only | self.ALWAYS
            return {k: v for k, v in resource.items() if k.lower() in keep}
        return {k: v for k, v in resource.items() if k.lower() not in self.without - self.ALWAYS}


class ScimUserAdapter(SCIMUser):  # type: ignore[misc]
    """A person of the token's organization as a SCIM User."""

    id_field = "pk"
    obj: Any

    def __init__(self, obj: User, request: Any = None) -> None:
        super().__init__(obj, request=request)
        self._input: services.PersonInput | None = None

    @property
    def user(self) -> User:
        user: User = self.obj
        return user

    def _identity(self) -> Any:
        try:
            return self.user.scim_identity
        except ObjectDoesNotExist:
            return None

    @property
    def display_name(self) -> str:
        identity = self._identity()
        if identity is not None:
            return str(identity.display_name)
        return f"{self.user.first_name} {self.user.last_name}".strip()

    def _emails(self) -> list[dict[str, Any]]:
        """The addresses the provider sent, the primary (or first) one the person's own."""
        identity = self._identity()
        sent = [dict(entry) for entry in (identity.emails if identity is not None else [])]
        if not sent:
            return [{"value": self.user.email, "type": "work", "primary": True}]
        primary = next((entry for entry in sent if entry.get("primary") is True), sent[0])
        primary["value"] = self.user.email
        return sent

    def state(self) -> State:
        """The writable attributes as they are now."""
        identity = self._identity()
        name = {"givenName": self.user.first_name, "familyName": self.user.last_name}
        return {
            "userName": identity.user_name if identity is not None else self.user.email,
            "externalId": identity.external_id if identity is not None else "",
            "displayName": identity.display_name if identity is not None else "",
            "name": {key: value for key, value in name.items() if value},
            "emails": self._emails(),
            "active": self.user.is_active,
        }

    def to_dict(self) -> dict[str, Any]:
        state = self.state()
        base = scim_base_url(self.request)
        resource: dict[str, Any] = {
            "schemas": [USER],
            "id": self.id,
            "externalId": state["externalId"] or None,
            "userName": state["userName"],
            "name": state["name"] or None,
            "displayName": self.display_name or None,
            "emails": state["emails"],
            "active": state["active"],
            "groups": [
                {
                    "value": group_id(membership.team_id),
                    "$ref": base
                    + reverse("scim:groups", kwargs={"uuid": group_id(membership.team_id)}),
                    "display": membership.team.name,
                }
                for membership in self.user.memberships.all()
            ]
            or None,
            "meta": {
                "resourceType": "User",
                "created": self.user.date_joined.isoformat(),
                "lastModified": self.user.date_joined.isoformat(),
                "location": self.location,
            },
        }
        resource = {key: value for key, value in resource.items() if value is not None}
        return _Selection(self.request).apply(resource)

    # --- writes ---------------------------------------------------------------------------

    def validate_dict(self, d: dict[str, Any]) -> None:
        if not isinstance(d.get("userName"), str) or not d["userName"].strip():
            raise exceptions.BadRequestError("userName is required.", scim_type="invalidValue")

    def from_dict(self, d: dict[str, Any]) -> None:
        """POST and PUT: the whole resource (what it does not say is cleared, except that
        `active` stays as it is when absent)."""
        state: State = {
            "userName": d.get("userName"),
            "externalId": d.get("externalId"),
            "displayName": d.get("displayName"),
            "name": d.get("name"),
            "emails": d.get("emails") or [],
            "active": d.get("active", self.user.is_active if self.user.pk else True),
        }
        self._input = _person_input(state)

    def save(self) -> None:
        assert self._input is not None
        with refusals_as_scim_errors():
            if self.user.pk is None:
                self.obj = services.scim_person_create(
                    organization=self.request.scim_organization, data=self._input
                )
            else:
                self.obj = services.scim_person_update(user=self.user, data=self._input)
        self.obj = _reloaded_user(self.user)

    def handle_operations(self, operations: object) -> None:
        state = _apply(self.state(), operations, _user_operation)
        self._input = _person_input(state)
        self.save()

    def delete(self) -> None:
        with refusals_as_scim_errors():
            services.scim_person_delete(user=self.user)


def _reloaded_user(user: User) -> User:
    from integrations.scim.selectors import scim_people

    return scim_people(organization=user.organization).get(pk=user.pk)


_REQUIRED_USER = {"username", "emails", "active"}


def _user_operation(state: State, op: str, path: Path, value: Any) -> None:
    """One PATCH operation on a User's writable attributes; others (Entra ID's enterprise
    extension, `title`, `phoneNumbers` ...) are accepted and not kept."""
    key = {
        "username": "userName",
        "externalid": "externalId",
        "displayname": "displayName",
        "active": "active",
        "name": "name",
        "emails": "emails",
    }.get(path.attr)
    if key is None or path.extension:
        return
    if op == "remove":
        _user_remove(state, key, path)
    elif key == "name":
        name = dict(state["name"])
        if path.sub is not None:
            name[path.sub] = value
        elif isinstance(value, dict):
            name = {**name, **value} if op == "add" else dict(value)
        else:
            raise exceptions.BadRequestError("name is an object.", scim_type="invalidValue")
        state["name"] = name
    elif key == "emails":
        state["emails"] = _emails_changed(state["emails"], op, path, value)
    else:
        state[key] = value


def _user_remove(state: State, key: str, path: Path) -> None:
    if key == "emails" and path.filter_attr is not None:
        kept = [e for e in state["emails"] if not _matches(e, path)]
        if kept:
            state["emails"] = kept
            return
    if key.lower() in _REQUIRED_USER:
        raise exceptions.BadRequestError(
            f"{key} cannot be removed: a person always has one.", scim_type="mutability"
        )
    if key == "name":
        state["name"] = (
            {}
            if path.sub is None
            else {k: v for k, v in state["name"].items() if k.lower() != path.sub}
        )
    else:
        state[key] = ""


def _matches(entry: object, path: Path) -> bool:
    if not isinstance(entry, dict) or path.filter_attr is None:
        return False
    actual = {k.lower(): v for k, v in entry.items()}.get(path.filter_attr)
    return str(actual).lower() == str(path.filter_value).lower()


def _emails_changed(emails: list[Any], op: str, path: Path, value: Any) -> list[Any]:
    """`emails` after an add or replace, whole or of one address (`emails[type eq
    "work"].value`, Entra ID's habit)."""
    if path.filter_attr is not None:
        entries = [dict(e) for e in emails if isinstance(e, dict)]
        target = next((e for e in entries if _matches(e, path)), None)
        if target is None:
            target = {path.filter_attr: path.filter_value}
            if not any(e.get("primary") is True for e in entries):
                target["primary"] = True
            entries.append(target)
        if path.sub is not None:
            target[path.sub] = value
        elif isinstance(value, dict):
            target.update(value)
        return entries
    new = value if isinstance(value, list) else [value]
    if op == "add":
        known = {str(e.get("value")).lower() for e in emails if isinstance(e, dict)}
        return list(emails) + [e for e in new if str(e.get("value")).lower() not in known]
    return list(new)


def _person_input(state: State) -> services.PersonInput:
    """The services' input from a User's writable attributes (checked)."""
    user_name = as_text(state.get("userName"), "userName")
    if not user_name:
        raise exceptions.BadRequestError("userName is required.", scim_type="invalidValue")
    emails = state.get("emails") or []
    if isinstance(emails, dict):  # OneLogin sends one address as an object
        emails = [emails]
    if not isinstance(emails, list) or not all(isinstance(e, dict) for e in emails):
        raise exceptions.BadRequestError("emails is a list of objects.", "invalidValue")
    emails = [{k: v for k, v in e.items() if k in ("value", "type", "primary")} for e in emails]
    for entry in emails:
        if "primary" in entry:
            entry["primary"] = as_bool(entry["primary"], "emails.primary")
    primary = next((e for e in emails if e.get("primary") is True), emails[0] if emails else None)
    email = as_text(primary.get("value"), "emails.value") if primary else user_name
    name = state.get("name")
    if name is not None and not isinstance(name, dict):
        raise exceptions.BadRequestError("name is an object.", scim_type="invalidValue")
    lowered = {str(k).lower(): v for k, v in (name or {}).items()}
    first = as_text(lowered.get("givenname"), "name.givenName")
    last = as_text(lowered.get("familyname"), "name.familyName")
    display = as_text(state.get("displayName"), "displayName")
    if name is None and display:  # no name given: the display name is the person's name
        first, _, last = display.partition(" ")
    active = state.get("active")
    return services.PersonInput(
        user_name=user_name,
        email=email,
        first_name=first,
        last_name=last,
        display_name=display,
        external_id=as_text(state.get("externalId"), "externalId"),
        emails=emails,
        active=None if active is None else as_bool(active, "active"),
    )


class ScimGroupAdapter(SCIMGroup):  # type: ignore[misc]
    """A team of the token's organization as a SCIM Group; its members are people."""

    id_field = "pk"
    obj: Any

    def __init__(self, obj: Team, request: Any = None) -> None:
        super().__init__(obj, request=request)
        self._input: services.TeamInput | None = None

    @property
    def id(self) -> str:
        return group_id(self.team.pk)

    @property
    def team(self) -> Team:
        team: Team = self.obj
        return team

    @property
    def display_name(self) -> str:
        return self.team.name

    def _external_id(self) -> str:
        try:
            return str(self.team.scim_group.external_id)
        except ObjectDoesNotExist:
            return ""

    def state(self) -> State:
        return {
            "displayName": self.team.name,
            "externalId": self._external_id(),
            "members": [membership.user_id for membership in self.team.memberships.all()],
        }

    def to_dict(self) -> dict[str, Any]:
        base = scim_base_url(self.request)
        members = [
            {"value": str(user_id), "$ref": base + reverse("scim:users", kwargs={"uuid": user_id})}
            for user_id in self.state()["members"]
        ]
        resource: dict[str, Any] = {
            "schemas": [GROUP],
            "id": self.id,
            "externalId": self._external_id() or None,
            "displayName": self.team.name,
            "members": members or None,
            "meta": {
                "resourceType": "Group",
                "created": self.team.created_at.isoformat(),
                "lastModified": self.team.created_at.isoformat(),
                "location": self.location,
            },
        }
        resource = {key: value for key, value in resource.items() if value is not None}
        return _Selection(self.request).apply(resource)

    def validate_dict(self, d: dict[str, Any]) -> None:
        if not isinstance(d.get("displayName"), str) or not d["displayName"].strip():
            raise exceptions.BadRequestError("displayName is required.", "invalidValue")

    def from_dict(self, d: dict[str, Any]) -> None:
        """POST and PUT (Okta replaces a group's members with a PUT)."""
        members = d.get("members") or []
        self._input = services.TeamInput(
            name=as_text(d.get("displayName"), "displayName"),
            external_id=as_text(d.get("externalId"), "externalId"),
            member_ids=_member_ids(members),
        )

    def save(self) -> None:
        assert self._input is not None
        with refusals_as_scim_errors():
            if self.team.pk is None:
                self.obj = services.scim_team_create(
                    organization=self.request.scim_organization, data=self._input
                )
            else:
                self.obj = services.scim_team_update(team=self.team, data=self._input)
        self.obj = _reloaded_team(self.team)

    def handle_operations(self, operations: object) -> None:
        state = _apply(self.state(), operations, _group_operation)
        self._input = services.TeamInput(
            name=as_text(state["displayName"], "displayName"),
            external_id=as_text(state["externalId"], "externalId"),
            member_ids=list(state["members"]),
        )
        self.save()

    def delete(self) -> None:
        with refusals_as_scim_errors():
            services.scim_team_delete(team=self.team)


def _reloaded_team(team: Team) -> Team:
    from integrations.scim.selectors import scim_teams

    return scim_teams(organization=team.organization).get(pk=team.pk)


def _member_ids(members: object) -> list[int]:
    """People's ids from `[{"value": "42"}, ...]`; anything that is not an id is refused."""
    if isinstance(members, dict):
        members = [members]
    if not isinstance(members, list):
        raise exceptions.BadRequestError("members is a list.", scim_type="invalidValue")
    ids = []
    for member in members:
        value = member.get("value") if isinstance(member, dict) else None
        text = str(value).strip() if value is not None else ""
        if not text.isdigit() or len(text) > 18:
            raise exceptions.BadRequestError(
                f"No person of this organization has the id {value!r}.",
                scim_type="invalidValue",
            )
        ids.append(int(text))
    return ids


def _group_operation(state: State, op: str, path: Path, value: Any) -> None:
    """One PATCH operation on a Group: its name, external id and members (Okta and Entra ID
    add and remove members, also as `members[value eq "42"]`)."""
    if path.attr == "displayname":
        if op == "remove":
            raise exceptions.BadRequestError("A group keeps its displayName.", "mutability")
        state["displayName"] = value
    elif path.attr == "externalid":
        state["externalId"] = "" if op == "remove" else value
    elif path.attr == "members":
        members: list[int] = list(state["members"])
        if path.filter_attr is not None:
            if path.filter_attr != "value":
                raise exceptions.BadRequestError(
                    "Members are chosen by value.", scim_type="invalidFilter"
                )
            chosen = _member_ids([{"value": path.filter_value}])
            value = [{"value": path.filter_value}] if value is None else value
        else:
            chosen = _member_ids(value) if value is not None else members
        if op == "remove":
            members = [m for m in members if m not in chosen]
        elif op == "add" or path.filter_attr is not None:
            members += [m for m in _member_ids(value) if m not in members]
        else:
            members = list(dict.fromkeys(chosen))
        state["members"] = members
