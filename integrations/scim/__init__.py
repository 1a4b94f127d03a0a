"""SCIM 2.0 provisioning (docs/accounts.md, "SCIM provisioning"): an identity provider (Okta,
Entra ID) creates, updates, deactivates and deletes the organization's people and keeps its
teams (SCIM groups) and their members, through django-scim2 at /scim/v2/ with a bearer token
of one organization."""
