"""PATCH paths as Okta and Entra ID send them (RFC 7644 section 3.5.2): `active`,
`name.givenName`, `emails[type eq "work"].value`, `members[value eq "42"]`, with or without
the schema's URN in front (`urn:ietf:params:scim:schemas:core:2.0:User:userName`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django_scim import exceptions

_PATH = re.compile(
    r"^(?P<attr>[A-Za-z$][\w$-]*)(?:\[(?P<filter>[^\]]*)\])?(?:\.(?P<sub>[A-Za-z$][\w$-]*))?$"
)
_FILTER = re.compile(
    r'^\s*(?P<attr>[A-Za-z$][\w$.-]*)\s+eq\s+"(?P<value>(?:[^"\\]|\\.)*)"\s*$', re.I
)
_CORE_URN = re.compile(r"^urn:ietf:params:scim:schemas:core:2\.0:(?:User|Group):", re.I)


@dataclass(frozen=True)
class Path:
    """One attribute (lower-cased), an optional `[x eq "v"]` filter and sub-attribute."""

    attr: str
    filter_attr: str | None = None
    filter_value: str | None = None
    sub: str | None = None
    extension: bool = False  # an extension's attribute (Entra's enterprise User): ignored


def path_parse(text: str) -> Path:
    """The parsed path; 400 invalidPath for what is not one."""
    text = text.strip()
    if text.lower().startswith("urn:"):
        stripped = _CORE_URN.sub("", text)
        if stripped == text:
            return Path(attr=text.lower(), extension=True)
        text = stripped
    match = _PATH.match(text)
    if match is None:
        raise exceptions.BadRequestError(f"Not a valid path: {text!r}.", scim_type="invalidPath")
    filter_attr = filter_value = None
    if match["filter"] is not None:
        found = _FILTER.match(match["filter"])
        if found is None:
            raise exceptions.BadRequestError(
                f'Only [attribute eq "value"] filters are supported in paths: {text!r}.',
                scim_type="invalidFilter",
            )
        filter_attr = found["attr"].lower()
        filter_value = found["value"].replace('\\"', '"')
    sub = match["sub"].lower() if match["sub"] else None
    return Path(match["attr"].lower(), filter_attr, filter_value, sub)


def as_bool(value: object, name: str) -> bool:
    """A boolean, also from Entra ID's strings ("True", "False")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise exceptions.BadRequestError(f'"{name}" must be true or false.', scim_type="invalidValue")


def as_text(value: object, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    raise exceptions.BadRequestError(f'"{name}" must be a string.', scim_type="invalidValue")
