"""Reads of receive channels."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from opsduty.models import Role, User
from opsduty.tenancy import get_for_org_or_404, scoped
from processing.models import ReceiveChannel


def can_view_channels(user: User) -> bool:
    """Owners and members see receive channels and use the debugger; stakeholders do not."""
    return user.is_owner or user.role == Role.MEMBER


def can_manage_channels(user: User) -> bool:
    """Receive channels belong to the organization: only owners create, edit, delete."""
    return user.is_owner


def receive_channel_list(*, user: User) -> QuerySet[ReceiveChannel]:
    """The organization's receive channels, oldest first (403 for stakeholders)."""
    if not can_view_channels(user):
        raise PermissionDenied("Only owners and members can see receive channels.")
    return scoped(ReceiveChannel, user.organization).order_by("id")


def receive_channel_get(*, user: User, channel_id: int) -> ReceiveChannel:
    """One receive channel of the user's organization, or 404 (also for foreign ids)."""
    return get_for_org_or_404(receive_channel_list(user=user), user.organization, pk=channel_id)
