"""Raw events in API v1: `POST raw-events/{raw_event_id}/debug/`.

Renders a stored raw event's body through a receive channel, a built-in template, or (both
null) the channel or template its webhook uses now, and creates nothing. Owners only (403
for others, as raw events are in the UI); an unknown or foreign raw event id answers 404.
A `channel` id that is not one of the organization's is bad input (422), whichever it is.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from opsduty.api.base import OrgScopedAPIView
from opsduty.api.errors import UnprocessableEntity
from opsduty.models import User
from opsduty.tenancy import scoped
from processing.channels.api import DebugOutputSchema
from processing.models import BaseTemplate, ReceiveChannel
from processing.pipeline.steps import pipeline_channel_try
from signals.receiver.selectors import raw_event_get


class RawEventDebugInputSchema(serializers.Serializer[Any]):
    """A receive channel id or a built-in template key, or neither (the webhook's own)."""

    channel = serializers.IntegerField(required=False, allow_null=True)
    template = serializers.ChoiceField(
        choices=BaseTemplate.choices, required=False, allow_null=True
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("channel") is not None and attrs.get("template") is not None:
            raise serializers.ValidationError("Give a channel or a template, not both.")
        return attrs


class RawEventDebugView(OrgScopedAPIView):
    """POST: render a stored raw event through a channel or template; creates nothing."""

    @extend_schema(
        operation_id="opsduty_api_v1_raw_events_debug",
        summary="Try a raw event with a receive channel",
        description=(
            "Render the stored body of raw event `raw_event_id` through the receive channel "
            "`channel`, the built-in `template`, or (both null or absent) the channel or "
            "template its webhook uses now; both at once are refused (422). Answers every "
            "rendered field, the errors per field and the event it would create; nothing is "
            "created or changed. Owners only."
        ),
        request=RawEventDebugInputSchema,
        responses={200: DebugOutputSchema},
        tags=["raw events"],
    )
    def post(self, request: Request, raw_event_id: int) -> Response:
        user = request.user
        assert isinstance(user, User)  # OrgScopedAPIView authenticated it
        raw = raw_event_get(user=user, raw_event_id=raw_event_id)  # 403 / 404
        serializer = RawEventDebugInputSchema(data=request.data)
        if not serializer.is_valid():
            raise UnprocessableEntity.from_detail(serializer.errors)
        data = serializer.validated_data
        channel = None
        if data.get("channel") is not None:
            channel = scoped(ReceiveChannel, self.organization).filter(pk=data["channel"]).first()
            if channel is None:
                raise UnprocessableEntity.for_field(
                    ["body", "channel"], "No receive channel of this organization has this id."
                )
        _, result = pipeline_channel_try(raw=raw, channel=channel, builtin=data.get("template"))
        return Response(result.as_dict())
