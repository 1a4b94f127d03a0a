"""SCIM provisioning: the organization's settings and bearer tokens, and what the identity
provider says of a person or a team that OpsDuty does not keep itself (its user name,
external id, display name and addresses; a group's external id)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from opsduty.models import Role, Team, TenantModel, User

__all__ = ["ScimGroup", "ScimIdentity", "ScimSettings", "ScimToken"]

SCIM_TOKEN_NAME_MAX = 100
# An identity provider's values: Entra ID's user principal names and object ids fit in 256.
SCIM_VALUE_MAX = 300


class ScimSettings(TenantModel):
    """One per organization (created on first use): the role that provisioned people get."""

    default_role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="scim_settings_once_per_org")
        ]

    def __str__(self) -> str:
        return f"SCIM settings of {self.organization_id}"


class ScimToken(TenantModel):
    """A bearer token of the SCIM API of one organization. Only its SHA-256 is stored
    (`opsduty.crypto.secret_digest`); the value is shown once, when it is created. Revoking
    deletes the row: the next request with the token answers 401."""

    name = models.CharField(max_length=SCIM_TOKEN_NAME_MAX)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Written at most once a minute (services.scim_token_authenticate).
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


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
