"""JSON error bodies for API v1: always `{"detail": ...}`, never HTML.

* 401, 403, 404, 405, 429 (with `Retry-After`), ...: `{"detail": "<message>"}`.
* 503 (with `Retry-After`) when PostgreSQL cannot be reached: `{"detail": "<message>"}`.
* 422: `{"detail": [{"loc": ["body", "field"], "msg": "...", "type": "value_error"}]}` for
  DRF serializer errors, Django `ValidationError`s raised by services, a malformed JSON body
  (`loc: ["body"]`) and bad query parameters (`loc: ["query", "name"]`).

Client 0.1.0 decodes 401/404/422 bodies and needs the `detail` key (spec §3.9).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypedDict

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from opsduty.errors import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS, database_unavailable

VALUE_ERROR = "value_error"


class ErrorItem(TypedDict):
    """One entry of a 422 `detail` list."""

    loc: list[str | int]
    msg: str
    type: str


class UnprocessableEntity(exceptions.APIException):
    """422 whose body is `{"detail": [ErrorItem, ...]}`; raise it for any invalid input."""

    status_code = 422
    default_detail = "Unprocessable entity."
    default_code = "unprocessable_entity"

    def __init__(self, errors: list[ErrorItem]) -> None:
        super().__init__()
        self.errors = errors

    @classmethod
    def for_field(cls, loc: Sequence[str | int], msg: str) -> UnprocessableEntity:
        """One error at `loc`, e.g. `("query", "first")` or `("body", "service")`."""
        return cls([{"loc": list(loc), "msg": msg, "type": VALUE_ERROR}])

    @classmethod
    def from_detail(cls, detail: Any, loc: Sequence[str | int] = ("body",)) -> UnprocessableEntity:
        """Flatten a DRF `ValidationError.detail` (or Django message dict/list) under `loc`."""
        errors = list(_flatten(detail, list(loc)))
        return cls(errors or [{"loc": list(loc), "msg": "Invalid input.", "type": VALUE_ERROR}])


_NON_FIELD_KEYS = {NON_FIELD_ERRORS, api_settings.NON_FIELD_ERRORS_KEY}


def _flatten(detail: Any, loc: list[str | int]) -> Iterator[ErrorItem]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flatten(value, loc if key in _NON_FIELD_KEYS else [*loc, key])
    elif isinstance(detail, list | tuple):
        for index, item in enumerate(detail):
            # A list of messages belongs to `loc`; nested structures (many=True) get an index.
            yield from _flatten(item, [*loc, index] if isinstance(item, dict | list) else loc)
    else:
        yield {"loc": loc, "msg": str(detail), "type": VALUE_ERROR}


def _django_validation_detail(exc: DjangoValidationError) -> Any:
    return exc.message_dict if hasattr(exc, "error_dict") else exc.messages


def _as_api_exception(exc: Exception) -> Exception:
    """Map Django's and DRF's input errors onto the exceptions this API answers with."""
    if isinstance(exc, DjangoValidationError):
        return UnprocessableEntity.from_detail(_django_validation_detail(exc))
    if isinstance(exc, exceptions.ValidationError):
        return UnprocessableEntity.from_detail(exc.detail)
    if isinstance(exc, exceptions.ParseError):
        return UnprocessableEntity.for_field(["body"], str(exc.detail))
    if isinstance(exc, Http404):
        return exceptions.NotFound()  # same "Not found." whatever the internal message
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    return exc


class ServiceUnavailable(exceptions.APIException):
    """503 with Retry-After: PostgreSQL could not be reached (opsduty/errors.py)."""

    status_code = 503
    default_detail = DATABASE_UNAVAILABLE
    default_code = "service_unavailable"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with 422 detail lists and `{"detail": ...}` for everything else."""
    if database_unavailable(exc):
        response = drf_exception_handler(ServiceUnavailable(), context)
        assert response is not None
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's handler500 answers JSON under /api/
    if isinstance(exc, UnprocessableEntity):
        response.data = {"detail": exc.errors}
    elif not (isinstance(response.data, dict) and "detail" in response.data):
        response.data = {"detail": response.data}
    return response


class ErrorSchema(serializers.Serializer[Any]):
    """Documentation of `{"detail": "<message>"}` (401, 404, ...)."""

    detail = serializers.CharField()


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}]})
class LocPartField(serializers.Field):  # type: ignore[type-arg]
    """Documentation of one part of a `loc`: a key, or a list index (`["body", "items", 2]`)."""


class ValidationErrorItemSchema(serializers.Serializer[Any]):
    """Documentation of one `ErrorItem`."""

    loc = serializers.ListField(child=LocPartField())
    msg = serializers.CharField()
    type = serializers.CharField()


class ValidationErrorSchema(serializers.Serializer[Any]):
    """Documentation of the 422 body."""

    detail = ValidationErrorItemSchema(many=True)
