"""Base classes of every API v1 endpoint: the one scoping mechanism of the API.

* `OrgScopedAPIView`: bearer token + `api` scope + rate limit (project settings), JSON
  errors, and after authentication `request.organization` / `self.organization` set to
  the token user's organization.
* `OrgScopedGenericAPIView[M]`: `get_queryset()` is final and always returns
  `opsduty.tenancy.scoped(self.get_base_queryset(), organization)`; subclasses shape the
  rows (select_related, filters) in `get_base_queryset()`. `get_object()` goes through
  `get_for_org_or_404`, so an unknown id and another organization's id both answer
  `404 {"detail": "Not found."}`.
* `OrgScopedListAPIView[M]` / `OrgScopedRetrieveAPIView[M]`: GET list (paged with
  `RelayCursorPagination`, in the view's `ordering`) and GET one object.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar, final

from django.db import models
from drf_spectacular.openapi import AutoSchema
from rest_framework import mixins
from rest_framework.exceptions import NotAuthenticated
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from opsduty.api.errors import ErrorSchema, UnprocessableEntity, ValidationErrorSchema
from opsduty.api.fields import query_text
from opsduty.audit import acting_update, token_label
from opsduty.models import AuditChannel, Organization, User
from opsduty.tenancy import get_for_org_or_404, scoped
from opsduty.timebounds import RANGE_MESSAGE, datetime_in_range

M = TypeVar("M", bound=models.Model)


class ApiAutoSchema(AutoSchema):
    """OpenAPI: paged envelopes are named `Paged<Item>`; error responses are documented."""

    def get_paginated_name(self, serializer_name: str) -> str:
        return f"Paged{serializer_name}"

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        errors: dict[str, Any] = {"401": ErrorSchema, "422": ValidationErrorSchema}
        if "{" in self.path:
            errors["404"] = ErrorSchema
        responses = operation.setdefault("responses", {})
        for status, serializer in errors.items():
            if status not in responses:
                component = self.resolve_serializer(serializer, "response")
                responses[status] = {
                    "content": {"application/json": {"schema": component.ref}},
                    "description": "",
                }
        return operation


class OrgScopedAPIView(APIView):
    """An authenticated API endpoint acting inside the caller's organization."""

    schema = ApiAutoSchema()
    organization: Organization

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles
        user = request.user
        if not isinstance(user, User):
            raise NotAuthenticated()  # unreachable with HasApiScope; never run unscoped
        self.organization = user.organization
        # The audit log names the token's person and the token (the middleware knew only
        # "a visitor").
        acting_update(actor=user, actor_label=token_label(request.auth), channel=AuditChannel.API)
        request.organization = user.organization  # type: ignore[attr-defined]
        request._request.organization = user.organization  # type: ignore[attr-defined]


class OrgScopedGenericAPIView(OrgScopedAPIView, GenericAPIView[M]):
    """Generic endpoint over one tenant model; every row it sees is the caller's org's."""

    model: type[M]
    # The list order used by the pagination: "id" oldest first, "-id" newest first.
    ordering: str | tuple[str, ...] = "id"

    def get_base_queryset(self) -> models.QuerySet[M]:
        """The unscoped rows of this endpoint; override to filter or select_related."""
        return self.model._default_manager.all()

    @final
    def get_queryset(self) -> models.QuerySet[M]:
        if getattr(self, "swagger_fake_view", False):
            # drf-spectacular inspects views without a request: no organization, no rows.
            return self.model._default_manager.none()
        return scoped(self.get_base_queryset(), self.organization)

    def get_object(self) -> M:
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        lookup = {self.lookup_field: self.kwargs[lookup_url_kwarg]}
        obj = get_for_org_or_404(
            self.filter_queryset(self.get_queryset()), self.organization, **lookup
        )
        self.check_object_permissions(self.request, obj)
        return obj


class OrgScopedListAPIView(mixins.ListModelMixin, OrgScopedGenericAPIView[M]):
    """GET: one page of the organization's rows."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)


class OrgScopedRetrieveAPIView(mixins.RetrieveModelMixin, OrgScopedGenericAPIView[M]):
    """GET: one row of the organization (404 for unknown and foreign ids)."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.retrieve(request, *args, **kwargs)


def current_user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # OrgScopedAPIView.initial guarantees it
    return user


def query_datetime(request: Request, name: str) -> datetime | None:
    """An ISO 8601 query value; naive means UTC (spec §2.1). Bad values are a 422."""
    raw = query_text(request, name)
    if not raw:
        return None
    # A hand-typed `+02:00` arrives as ` 02:00` when the caller did not percent-encode it.
    for candidate in (raw, raw.replace(" ", "+")):
        try:
            value = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        if not datetime_in_range(value):
            raise UnprocessableEntity.for_field(("query", name), RANGE_MESSAGE)
        return value
    raise UnprocessableEntity.for_field(("query", name), "Must be an ISO 8601 date-time.")
