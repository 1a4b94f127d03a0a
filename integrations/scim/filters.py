"""SCIM filters (`?filter=userName eq "ada@example.com"`, what Okta and Entra ID send) as
Django queries over the token's organization only (USER_FILTER_PARSER and
GROUP_FILTER_PARSER of django-scim2). A filter on an attribute this server does not keep
answers 400 invalidFilter rather than being dropped, which would widen the answer."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import CharField, F, QuerySet, Value
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django_scim import exceptions
from scim2_filter_parser.attr_paths import AttrPath
from scim2_filter_parser.parser import SCIMParserError
from scim2_filter_parser.transpilers.django_q_object import get_query

from integrations.scim.selectors import scim_people, scim_teams

AttrMap = dict[tuple[str, str | None, str | None], str]
_URNS = (
    None,
    "urn:ietf:params:scim:schemas:core:2.0:user",
    "urn:ietf:params:scim:schemas:core:2.0:group",
)


def _with_urns(names: dict[tuple[str, str | None], str]) -> AttrMap:
    return {(attr, sub, urn): field for (attr, sub), field in names.items() for urn in _URNS}


class _Filter:
    attr_map: ClassVar[AttrMap] = {}

    @classmethod
    def queryset(cls, request: Any) -> QuerySet[Any]:
        """Each subclass answers it (users or groups): the base class has none."""
        raise NotImplementedError

    @classmethod
    def search(cls, filter_query: str, request: Any = None) -> QuerySet[Any]:
        """The organization's resources that match `filter_query`."""
        try:
            used = list(AttrPath(filter_query, cls.attr_map))
            lowered = {tuple(p.lower() if p else p for p in key) for key in cls.attr_map}
            unknown = [p for p in used if tuple(x.lower() if x else x for x in p) not in lowered]
            if unknown:
                names = ", ".join(".".join(x for x in p[:2] if x) for p in unknown)
                raise exceptions.BadRequestError(
                    f"Filtering on {names} is not supported.", scim_type="invalidFilter"
                )
            query = get_query(filter_query, cls.attr_map)
        except (SCIMParserError, ValueError, IndexError, KeyError, TypeError) as error:
            raise exceptions.BadRequestError(
                f"Not a valid filter: {error}", scim_type="invalidFilter"
            ) from None
        queryset = cls.queryset(request)
        return queryset.filter(query) if query is not None else queryset.none()


class UserFilter(_Filter):
    attr_map = _with_urns(
        {
            ("username", None): "scim_user_name",
            ("externalid", None): "scim_identity__external_id",
            ("emails", None): "email",
            ("emails", "value"): "email",
            ("name", "givenname"): "first_name",
            ("name", "familyname"): "last_name",
            ("displayname", None): "scim_display_name",
            ("active", None): "is_active",
        }
    )

    @classmethod
    def queryset(cls, request: Any) -> QuerySet[Any]:
        full_name = Trim(Concat(F("first_name"), Value(" "), F("last_name")))
        return scim_people(organization=request.scim_organization).annotate(
            # A person the provider did not create is known by their address.
            scim_user_name=Coalesce(
                F("scim_identity__user_name"), F("email"), output_field=CharField()
            ),
            scim_display_name=Coalesce(
                NullIf(F("scim_identity__display_name"), Value("")),
                full_name,
                output_field=CharField(),
            ),
        )


class GroupFilter(_Filter):
    attr_map = _with_urns(
        {
            ("displayname", None): "name",
            ("externalid", None): "scim_group__external_id",
        }
    )

    @classmethod
    def queryset(cls, request: Any) -> QuerySet[Any]:
        return scim_teams(organization=request.scim_organization)
