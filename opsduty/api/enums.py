"""Choice fields documented as named OpenAPI enums (`IncidentGroupStatus`, ...).

drf-spectacular names enums after the field (`StatusEnum`) and warns when several choice
sets share a field name, as the incident, reference and responder `status` fields do. A
`NamedChoiceField` carries the spec's enum name (§3.1) instead.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers


class NamedChoiceField(serializers.ChoiceField):
    """A `ChoiceField` over `choices`, documented as the enum component `enum_name`."""

    def __init__(self, choices: type[models.TextChoices], enum_name: str, **kwargs: Any) -> None:
        self.enum_name = enum_name
        super().__init__(choices=choices.choices, **kwargs)


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """OpenAPI: a `NamedChoiceField` is the string enum component of its name."""

    target_class = NamedChoiceField

    def get_name(self) -> str | None:
        name: str = self.target.enum_name
        return name

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.target.choices)}
