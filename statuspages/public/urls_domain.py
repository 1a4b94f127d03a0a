"""A status page on its custom domain (the URLconf statuspages/public/middleware.py gives a
request whose Host is a page's domain): the page's routes at `/`, and nothing else."""

from __future__ import annotations

from django.urls import path

from statuspages.public import views

page_patterns = [
    path("", views.page_front, name="statuspage_front"),
    path("history/", views.page_history, name="statuspage_history"),
    path("incidents/<int:notice_id>/", views.page_notice, name="statuspage_notice"),
    path("feed.atom", views.page_feed, name="statuspage_feed"),
    path("summary.json", views.page_summary, name="statuspage_summary"),
    path("subscribe/", views.page_subscribe, name="statuspage_subscribe"),
    path(
        "subscribers/confirm/<str:token>/",
        views.subscription_confirm,
        name="statuspage_subscription_confirm",
    ),
    path(
        "subscribers/unsubscribe/<str:token>/",
        views.subscription_unsubscribe,
        name="statuspage_unsubscribe",
    ),
]

urlpatterns = page_patterns

handler404 = "statuspages.public.views.domain_not_found"
handler500 = "statuspages.public.views.domain_server_error"
