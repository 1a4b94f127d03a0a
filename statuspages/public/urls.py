"""The public status pages at /status/<slug>/ (included by opsduty/urls.py)."""

from __future__ import annotations

from django.urls import include, path

from statuspages.public import urls_domain

urlpatterns = [path("status/<slug:slug>/", include(urls_domain.page_patterns))]
