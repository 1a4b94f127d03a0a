"""The SCIM 2.0 endpoint, /scim/v2/: django-scim2's views, with the lookups of this project
(ids are integers of the token's organization: anything else is the same 404), paging in the
database, `attributes` in search bodies, and a SCIM 404 for any other path."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django_scim import exceptions, views
from django_scim.constants import SCIM_CONTENT_TYPE, SchemaURI

from integrations.scim.adapters import GROUP_ID_PREFIX
from integrations.scim.adapters import ScimGroupAdapter as GroupAdapter
from integrations.scim.adapters import ScimUserAdapter as UserAdapter
from integrations.scim.filters import GroupFilter, UserFilter
from integrations.scim.locations import scim_base_url
from integrations.scim.schemas import MAX_RESULTS
from integrations.scim.selectors import scim_people, scim_teams


def list_response(total: int, start: int, resources: list[dict[str, Any]]) -> HttpResponse:
    """A SCIM ListResponse of one page of `resources` (RFC 7644 §3.4.2)."""
    document = {
        "schemas": [SchemaURI.LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": start,
        "Resources": resources,
    }
    return HttpResponse(json.dumps(document), content_type=SCIM_CONTENT_TYPE)


class _Lookups:
    """Mixed in before django-scim2's FilterMixin and GetView."""

    kwargs: dict[str, Any]
    request: Any
    id_prefix = ""

    def scoped(self, request: Any) -> QuerySet[Any]:
        """Each subclass answers it (users or groups): the base class has none."""
        raise NotImplementedError

    def get_object(self) -> Any:
        uuid = str(self.kwargs.get("uuid") or "")
        number = uuid.removeprefix(self.id_prefix) if uuid.startswith(self.id_prefix) else ""
        if not number.isdigit() or len(number) > 18:
            raise exceptions.NotFoundError(uuid)
        found = self.scoped(self.request).filter(pk=int(number)).first()
        if found is None:
            raise exceptions.NotFoundError(uuid)
        return found

    def _page(self, request: HttpRequest) -> tuple[int, int]:
        """startIndex (1-based; below 1 reads as 1) and count (at most MAX_RESULTS)."""
        params: Any = getattr(request, "scim_parameters", None) or request.GET
        try:
            start = int(params.get("startIndex") or 1)
            count = int(params.get("count") if params.get("count") is not None else MAX_RESULTS)
        except (TypeError, ValueError):
            raise exceptions.BadRequestError(
                "startIndex and count are integers.", scim_type="invalidValue"
            ) from None
        return max(start, 1), min(max(count, 0), MAX_RESULTS)

    def get_many(self, request: HttpRequest) -> HttpResponse:
        query = request.GET.get("filter")
        if query:
            return self._search(request, query, *self._page(request))
        return self._build_response(request, self.scoped(request), *self._page(request))

    def _search(self, request: Any, query: str, start: int, count: int) -> HttpResponse:
        found = self.__class__.parser_getter().search(query, request)  # type: ignore[attr-defined]
        return self._build_response(request, found, start, count)

    def _build_response(
        self, request: Any, queryset: QuerySet[Any], start: int, count: int
    ) -> HttpResponse:
        total = queryset.count()
        page = list(queryset[start - 1 : start - 1 + count]) if count else []
        adapter = self.scim_adapter  # type: ignore[attr-defined]
        resources = [adapter(item, request=request).to_dict() for item in page]
        return list_response(total, start, resources)


class UsersView(_Lookups, views.UsersView):  # type: ignore[misc]
    def scoped(self, request: Any) -> QuerySet[Any]:
        return scim_people(organization=request.scim_organization)


class GroupsView(_Lookups, views.GroupsView):  # type: ignore[misc]
    id_prefix = GROUP_ID_PREFIX

    def scoped(self, request: Any) -> QuerySet[Any]:
        return scim_teams(organization=request.scim_organization)


class _Search:
    """POST .../.search: its body's `attributes`, `startIndex` and `count` apply too."""

    def post(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        body = self.load_body(request.body)  # type: ignore[attr-defined]
        request.scim_parameters = {
            key: body.get(key)
            for key in ("attributes", "excludedAttributes", "startIndex", "count")
            if body.get(key) is not None
        }
        if not body.get("filter"):
            if body.get("schemas") != [SchemaURI.SERACH_REQUEST]:
                raise exceptions.BadRequestError("Not a SearchRequest.", "invalidSyntax")
            return self._build_response(request, self.scoped(request), *self._page(request))  # type: ignore[attr-defined, no-any-return]
        return super().post(request, *args, **kwargs)  # type: ignore[misc, no-any-return]


class UserSearchView(_Search, _Lookups, views.UserSearchView):  # type: ignore[misc]
    def scoped(self, request: Any) -> QuerySet[Any]:
        return scim_people(organization=request.scim_organization)


class GroupSearchView(_Search, _Lookups, views.GroupSearchView):  # type: ignore[misc]
    def scoped(self, request: Any) -> QuerySet[Any]:
        return scim_teams(organization=request.scim_organization)


class RootSearchView(views.SearchView):  # type: ignore[misc]
    """POST /.search: Users, then Groups, that match the filter (a filter on an attribute
    one type does not have matches none of that type)."""

    implemented = True

    def post(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        body = self.load_body(request.body)
        if body.get("schemas") != [SchemaURI.SERACH_REQUEST]:
            raise exceptions.BadRequestError("Not a SearchRequest.", "invalidSyntax")
        request.scim_parameters = {
            key: body.get(key)
            for key in ("attributes", "excludedAttributes", "startIndex", "count")
            if body.get(key) is not None
        }
        query = body.get("filter")
        found: list[tuple[type[Any], QuerySet[Any]]] = []
        refusals = []
        for kind, view in ((UserAdapter, UsersView), (GroupAdapter, GroupsView)):
            try:
                matching = view.parser_getter().search(query, request) if query else None
            except exceptions.BadRequestError as error:
                refusals.append(error)
                continue
            found.append((kind, matching if matching is not None else view().scoped(request)))
        if not found:
            raise refusals[0]
        start, count = _Lookups._page(self, request)
        total = sum(queryset.count() for _, queryset in found)
        resources: list[dict[str, Any]] = []
        skip = start - 1
        for kind, queryset in found:
            size = queryset.count()
            if skip >= size:
                skip -= size
                continue
            for item in queryset[skip : skip + count - len(resources)]:
                resources.append(kind(item, request=request).to_dict())
            skip = 0
        return list_response(total, start, resources)


class _Discovery:
    """ResourceTypes and Schemas: a complete ListResponse (totalResults included) and a SCIM
    error for an unknown id (django-scim2 answers an empty 404)."""

    def documents(self, request: Any) -> dict[str, dict[str, Any]]:
        """Each subclass answers it (users or groups): the base class has none."""
        raise NotImplementedError

    def get(self, request: Any, uuid: str | None = None, *args: Any, **kwargs: Any) -> HttpResponse:
        documents = self.documents(request)
        if uuid:
            if uuid not in documents:
                raise exceptions.NotFoundError(uuid)
            document: dict[str, Any] = documents[uuid]
        else:
            resources = sorted(documents.values(), key=lambda d: str(d.get("id")))
            document = {
                "schemas": [SchemaURI.LIST_RESPONSE],
                "totalResults": len(resources),
                "itemsPerPage": len(resources),
                "startIndex": 1,
                "Resources": resources,
            }
        return HttpResponse(json.dumps(document), content_type=SCIM_CONTENT_TYPE)


class ResourceTypesView(_Discovery, views.ResourceTypesView):  # type: ignore[misc]
    def documents(self, request: Any) -> dict[str, dict[str, Any]]:
        # `endpoint` is relative to the base URL (RFC 7643 section 6): "/Users".
        found: dict[str, dict[str, Any]] = self.type_dict_by_type_id(request)
        return {key: {**doc, "endpoint": f"/{doc['name']}s"} for key, doc in found.items()}


class SchemasView(_Discovery, views.SchemasView):  # type: ignore[misc]
    def documents(self, request: Any) -> dict[str, dict[str, Any]]:
        base = scim_base_url(request)
        return {
            uri: {
                **schema,
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
                "meta": {
                    "resourceType": "Schema",
                    "location": base + reverse("scim:schemas", kwargs={"uuid": uri}),
                },
            }
            for uri, schema in self.schemas_by_uri.items()
        }


class NotFoundView(views.SCIMView):  # type: ignore[misc]
    """Any other path under /scim/v2/: a SCIM 404 (after the token check)."""

    http_method_names = ["get", "post", "put", "patch", "delete"]

    def _missing(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        raise exceptions.NotFoundError(request.path)

    get = post = put = patch = delete = _missing


__all__ = ["GroupFilter", "UserFilter"]
