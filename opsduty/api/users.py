"""GET /api/v1/users/ (#21): the members of the caller's organization, oldest first."""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from opsduty.api.base import OrgScopedListAPIView
from opsduty.models import User


class UserSchema(serializers.ModelSerializer[User]):
    """`UserSchema` of the public API: names are strings, never null (the CLI prints them)."""

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name"]


class UserListView(OrgScopedListAPIView[User]):
    """Active users of the caller's organization, oldest first (paged)."""

    model = User
    serializer_class = UserSchema
    ordering = "id"

    def get_base_queryset(self) -> models.QuerySet[User]:
        # Deactivated accounts are no longer members: they cannot be paged or scheduled.
        return User.objects.filter(is_active=True)

    @extend_schema(
        operation_id="opsduty_api_v1_users_list_users",
        summary="List users",
        description="List the members of your organization, oldest first.",
        tags=["users"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
