"""Escalation policy pages; included at the site root. Int kwargs: `policy_id`, `step_id`
(tenancy walk)."""

from __future__ import annotations

from django.urls import path

from escalations.policies import views

urlpatterns = [
    path("escalation-policies/", views.policy_list, name="policies"),
    path("escalation-policies/new/", views.policy_create, name="policy_create"),
    path("escalation-policies/<int:policy_id>/", views.policy_detail, name="policy_detail"),
    path("escalation-policies/<int:policy_id>/edit/", views.policy_edit, name="policy_edit"),
    path("escalation-policies/<int:policy_id>/delete/", views.policy_delete, name="policy_delete"),
    path("escalation-policies/<int:policy_id>/steps/new/", views.step_create, name="step_create"),
    path(
        "escalation-policies/<int:policy_id>/steps/reorder/",
        views.step_reorder,
        name="step_reorder",
    ),
    path("escalation-steps/<int:step_id>/edit/", views.step_edit, name="step_edit"),
    path("escalation-steps/<int:step_id>/delete/", views.step_delete, name="step_delete"),
    path("escalation-steps/<int:step_id>/move/", views.step_move, name="step_move"),
]
