"""/scim/v2/ (django-scim2's routes, namespace `scim`, with this project's views for users
and groups) and the SCIM token's actions of the organization's settings page."""

from __future__ import annotations

from typing import Any

from django.urls import include, path, re_path
from django_scim import urls as scim_urls

from integrations.scim import protocol, views

_OURS: dict[str, Any] = {
    "users": protocol.UsersView,
    "groups": protocol.GroupsView,
    "users-search": protocol.UserSearchView,
    "groups-search": protocol.GroupSearchView,
    "resource-types": protocol.ResourceTypesView,
    "schemas": protocol.SchemasView,
    "search": protocol.RootSearchView,
}

scim_patterns = [
    re_path(str(p.pattern), _OURS[p.name].as_view(), name=p.name) if p.name in _OURS else p
    for p in scim_urls.urlpatterns
] + [re_path(r"^.*$", protocol.NotFoundView.as_view(), name="not-found")]

urlpatterns = [
    path("scim/v2/", include((scim_patterns, "scim"))),
    path("settings/organization/scim/rotate/", views.scim_token_create, name="scim_token_create"),
    path("settings/organization/scim/revoke/", views.scim_token_revoke, name="scim_token_revoke"),
]
