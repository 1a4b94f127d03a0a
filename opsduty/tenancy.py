"""Checked entry points: every view, API endpoint and task reaches tenant rows through here.

`scoped()` narrows a model or queryset to one organization; `get_for_org_or_404()` loads
one object and answers the same 404 for "missing" and "belongs to someone else", so ids
from another organization reveal nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models
from django.http import Http404

from opsduty.models import Organization

M = TypeVar("M", bound=models.Model)


def scoped(source: type[M] | models.QuerySet[M], organization: Organization) -> models.QuerySet[M]:
    """Return the rows of `source` that belong to `organization`."""
    queryset = source._default_manager.all() if isinstance(source, type) else source
    if organization is None or not isinstance(organization, Organization):
        raise TypeError("scoped() needs an Organization; refusing to run an unscoped query")
    return queryset.filter(organization=organization)


def get_for_org_or_404(
    source: type[M] | models.QuerySet[M], organization: Organization, **lookup: Any
) -> M:
    """Load one object of `organization`, or raise Http404 (also for other tenants' ids)."""
    try:
        return scoped(source, organization).get(**lookup)
    except (models.ObjectDoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None
