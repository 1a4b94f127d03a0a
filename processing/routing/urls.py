"""Routing rule, route and event orchestration pages; included at the site root.

Int kwargs: `routing_rule_id`, `route_id`, `orchestration_id`, `service_id` (tenancy walk).
"""

from __future__ import annotations

from django.urls import path

from processing.routing import views

urlpatterns = [
    path("routing-rules/", views.routing_rule_list, name="routing_rules"),
    path("routing-rules/new/", views.routing_rule_create, name="routing_rule_create"),
    path(
        "routing-rules/<int:routing_rule_id>/",
        views.routing_rule_detail,
        name="routing_rule_detail",
    ),
    path(
        "routing-rules/<int:routing_rule_id>/edit/",
        views.routing_rule_edit,
        name="routing_rule_edit",
    ),
    path(
        "routing-rules/<int:routing_rule_id>/delete/",
        views.routing_rule_delete,
        name="routing_rule_delete",
    ),
    path(
        "routing-rules/<int:routing_rule_id>/routing-key/",
        views.routing_rule_regenerate_key,
        name="routing_rule_regenerate_key",
    ),
    path(
        "routing-rules/<int:routing_rule_id>/routes/new/",
        views.route_create,
        name="route_create",
    ),
    path("routes/<int:route_id>/edit/", views.route_edit, name="route_edit"),
    path("routes/<int:route_id>/delete/", views.route_delete, name="route_delete"),
    path("routes/<int:route_id>/move/", views.route_move, name="route_move"),
    path("routes/<int:route_id>/toggle/", views.route_toggle, name="route_toggle"),
    path(
        "services/<int:service_id>/orchestrations/new/",
        views.orchestration_create,
        name="orchestration_create",
    ),
    path(
        "orchestrations/<int:orchestration_id>/edit/",
        views.orchestration_edit,
        name="orchestration_edit",
    ),
    path(
        "orchestrations/<int:orchestration_id>/delete/",
        views.orchestration_delete,
        name="orchestration_delete",
    ),
    path(
        "orchestrations/<int:orchestration_id>/move/",
        views.orchestration_move,
        name="orchestration_move",
    ),
    path(
        "orchestrations/<int:orchestration_id>/toggle/",
        views.orchestration_toggle,
        name="orchestration_toggle",
    ),
]
