"""Receive channels in API v1: `GET receive-channels/` (paged) and `POST receive-channels/debug/`.

The debugger renders a payload through a channel's templates, a built-in template, or
templates sent in the body (on top of the channel's or built-in's), and creates nothing.
Owners and members may use both endpoints; stakeholders get 403 (as in the UI). A channel
id of another organization answers 404, the same as an unknown one.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from opsduty.api.base import OrgScopedAPIView, OrgScopedListAPIView
from opsduty.api.errors import ErrorSchema, UnprocessableEntity
from opsduty.api.fields import StrictCharField
from opsduty.models import User
from processing.channels.rendering import FIELDS, channel_debug_payload, channel_templates
from processing.channels.selectors import receive_channel_get, receive_channel_list
from processing.models import BaseTemplate, ReceiveChannel
from processing.sandbox.environment import MAX_SOURCE, SandboxError, template_check


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # OrgScopedAPIView authenticated it
    return user


class ReceiveChannelSchema(serializers.ModelSerializer[ReceiveChannel]):
    """A receive channel: its base template and the overridden fields' sources."""

    base_template = serializers.ChoiceField(choices=BaseTemplate.choices)
    overrides = serializers.SerializerMethodField()

    class Meta:
        model = ReceiveChannel
        fields = ["id", "name", "description", "base_template", "overrides"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_overrides(self, channel: ReceiveChannel) -> dict[str, str]:
        return channel.overrides()


class ReceiveChannelListView(OrgScopedListAPIView[ReceiveChannel]):
    """The organization's receive channels, oldest first (paged)."""

    model = ReceiveChannel
    serializer_class = ReceiveChannelSchema
    ordering = "id"

    def get_base_queryset(self) -> models.QuerySet[ReceiveChannel]:
        return receive_channel_list(user=_user(self.request))

    @extend_schema(
        operation_id="opsduty_api_v1_receive_channels_list",
        summary="List receive channels",
        description="The organization's receive channels, oldest first.",
        tags=["receive channels"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object (documented as one: `validate_payload` refuses anything else)."""


@extend_schema_field(
    {
        "type": "object",
        "properties": {name: {"type": "string", "maxLength": MAX_SOURCE} for name in FIELDS},
        "additionalProperties": False,
    }
)
class FieldTemplatesField(serializers.DictField):
    """Templates by field name (documented with the names `validate_templates` accepts)."""


class DebugInputSchema(serializers.Serializer[Any]):
    """What to render: a channel or a built-in template (or neither: generic), extra
    templates per field on top, and the payload (a JSON object)."""

    channel = serializers.IntegerField(required=False, allow_null=True)
    template = serializers.ChoiceField(
        choices=BaseTemplate.choices, required=False, allow_null=True
    )
    templates = FieldTemplatesField(
        child=StrictCharField(allow_blank=True, max_length=MAX_SOURCE, trim_whitespace=False),
        required=False,
    )
    payload = JSONObjectField()

    def validate_templates(self, value: dict[str, str]) -> dict[str, str]:
        errors = {}
        for name, source in value.items():
            if name not in FIELDS:
                errors[name] = f"Unknown field; use one of {', '.join(FIELDS)}."
                continue
            try:
                template_check(source)
            except SandboxError as error:
                errors[name] = str(error)
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate_payload(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("The payload must be a JSON object.")
        return value


# `fields` and `errors` are attributes of DRF serializers: declare them through drf-spectacular.
DebugOutputSchema = inline_serializer(
    "ReceiveChannelDebugResultSchema",
    fields={
        "fields": serializers.DictField(child=serializers.CharField()),
        "errors": serializers.DictField(child=serializers.CharField()),
        "event": serializers.DictField(),
    },
)


class ReceiveChannelDebugView(OrgScopedAPIView):
    """POST: render a payload through a channel or a built-in template; creates nothing."""

    @extend_schema(
        operation_id="opsduty_api_v1_receive_channels_debug",
        summary="Debug a receive channel",
        description=(
            "Render `payload` through the channel `channel` (its base template and overrides), "
            "or the built-in `template`, with `templates` per field on top. Answers every "
            "rendered field, the errors per field and the event it would create."
        ),
        request=DebugInputSchema,
        responses={200: DebugOutputSchema, 404: ErrorSchema},  # 404: an unknown `channel`
        tags=["receive channels"],
    )
    def post(self, request: Request) -> Response:
        user = _user(request)
        receive_channel_list(user=user)  # 403 for stakeholders, even without a channel
        serializer = DebugInputSchema(data=request.data)
        if not serializer.is_valid():
            raise UnprocessableEntity.from_detail(serializer.errors)
        data = serializer.validated_data
        channel = None
        if data.get("channel") is not None:
            channel = receive_channel_get(user=user, channel_id=data["channel"])
        templates = channel_templates(channel=channel, builtin=data.get("template"))
        templates.update(data.get("templates") or {})
        result = channel_debug_payload(templates=templates, payload=data["payload"])
        return Response(result.as_dict())
