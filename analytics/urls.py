"""The analytics pages; included at the site root. No URL takes an id: the filters are in the
query string, checked against the organization (`analytics.forms`)."""

from __future__ import annotations

from django.urls import path

from analytics import views

urlpatterns = [
    path("analytics/", views.analytics_overview, name="analytics_overview"),
    path("analytics/csv/", views.analytics_overview_csv, name="analytics_overview_csv"),
    path("analytics/over-time/csv/", views.analytics_over_time_csv, name="analytics_over_time_csv"),
    path("analytics/services/", views.analytics_services, name="analytics_services"),
    path("analytics/services/csv/", views.analytics_services_csv, name="analytics_services_csv"),
    path("analytics/policies/", views.analytics_policies, name="analytics_policies"),
    path("analytics/policies/csv/", views.analytics_policies_csv, name="analytics_policies_csv"),
    path("analytics/teams/", views.analytics_teams, name="analytics_teams"),
    path("analytics/teams/csv/", views.analytics_teams_csv, name="analytics_teams_csv"),
    path("analytics/responders/", views.analytics_responders, name="analytics_responders"),
    path(
        "analytics/responders/csv/",
        views.analytics_responders_csv,
        name="analytics_responders_csv",
    ),
    path("analytics/time-zone/", views.analytics_time_zone, name="analytics_time_zone"),
]
