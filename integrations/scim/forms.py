from __future__ import annotations

from django import forms

from integrations.scim.models import SCIM_TOKEN_NAME_MAX
from opsduty.models import Role


class ScimTokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=SCIM_TOKEN_NAME_MAX,
        help_text="What uses it, e.g. Okta or Entra ID.",
    )


class DefaultRoleForm(forms.Form):
    default_role = forms.ChoiceField(
        label="Role of people the identity provider creates",
        choices=Role.choices,
        help_text="People already here keep their role.",
    )
