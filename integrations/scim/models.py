"""SCIM provisioning: the organization's bearer token, and what the identity
provider says of a person or a team that OpsDuty does not keep itself (its user name,
external id, display name and addresses; a group's external id)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from opsduty.models import Team, TenantModel, User

__all__ = ["ScimGroup", "ScimIdentity", "ScimToken"]

# An identity provider's values: Entra ID's user principal names and object ids fit in 256.
SCIM_VALUE_MAX = 300


class ScimToken(TenantModel):
    """The bearer token of the organization's SCIM API: one at most (rotating replaces it).
    Only its SHA-256 is stored (`opsduty.crypto.secret_digest`); the value is shown once,
    when it is created. Revoking deletes the row: the next request with it answers 401."""

    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Written at most once a minute (services.scim_token_authenticate).
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="scim_token_once_per_org")
        ]

    def __str__(self) -> str:
        return f"SCIM token of {self.organization_id}"


class ScimIdentity(TenantModel):
    """What the identity provider calls a person: `user_name` (their SCIM userName: usually
    their address, which is also the person's email), `external_id` (the provider's own id),
    the display name and the addresses it sent. Personal data: removed with the person."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="scim_identity")
    user_name = models.CharField(max_length=SCIM_VALUE_MAX)
    external_id = models.CharField(max_length=SCIM_VALUE_MAX, blank=True)
    display_name = models.CharField(max_length=SCIM_VALUE_MAX, blank=True)
    # The `emails` the provider sent ([{"value", "type", "primary"}]); the primary value is
    # the person's address and is always read from the User.
    emails: models.JSONField[Any, Any] = models.JSONField(default=list, blank=True)
    # Set when the identity provider deleted the person (SCIM DELETE): they are deactivated,
    # as a deprovisioned person is in PagerDuty and Grafana OnCall, and SCIM no longer sees
    # them (404). Owners may still reactivate or delete them on /members/.
    deprovisioned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "external_id"], name="scim_identity_external"),
        ]

    def __str__(self) -> str:
        return self.user_name


class ScimGroup(TenantModel):
    """The identity provider's id of a team (SCIM group)."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="scim_group")
    external_id = models.CharField(max_length=SCIM_VALUE_MAX, blank=True)

    def __str__(self) -> str:
        return self.external_id
