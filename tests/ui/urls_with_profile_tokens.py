"""The site's URLs plus a page named `profile_tokens`, as the personal API tokens page will be:
the profile's sub-navigation lists it once the URL exists (tests/ui/test_profile.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from opsduty.urls import handler404, handler500
from opsduty.urls import urlpatterns as site_urlpatterns

__all__ = ["handler404", "handler500", "urlpatterns"]


def _tokens(request: HttpRequest) -> HttpResponse:
    return HttpResponse("tokens")


urlpatterns = [path("profile/tokens/", _tokens, name="profile_tokens"), *site_urlpatterns]
