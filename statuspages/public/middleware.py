"""Custom domains (docs/status-pages.md, "Custom domains"): a request whose Host is the
`domain` of a status page is that page's, served at `/` by its own URLconf
(statuspages/public/urls_domain.py), which has nothing but the page's routes.

Django refuses a Host outside ALLOWED_HOSTS (`get_host` raises DisallowedHost, a 400). This
middleware, first in MIDDLEWARE, lets exactly the configured page domains through, without
`ALLOWED_HOSTS = ["*"]`: a Host that ALLOWED_HOSTS does not match is looked up among the
pages' domains (one indexed query); if a page has it, the request's `get_host` answers that
host (validated here against the database instead of the setting) and its URLconf becomes the
page's. Any other Host still meets Django's refusal. The page id travels on the request; the
views read the page by it, enabled only, so one domain can never show another page.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host

from statuspages.public.selectors import page_id_for_domain

DOMAIN_URLCONF = "statuspages.public.urls_domain"


def _allowed_hosts() -> list[str]:
    """The product's own hosts. A "*" is left out: with it every other Host would be the
    product's, and no custom domain could ever be told apart."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return [host for host in hosts if host != "*"]


class StatusPageDomainMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request._get_raw_host()  # type: ignore[attr-defined]  # what get_host would validate (X-Forwarded-Host too)
        domain, _port = split_domain_port(raw)
        if domain and not validate_host(domain, _allowed_hosts()):
            page_id = page_id_for_domain(domain)
            if page_id is not None:
                request.get_host = lambda: raw  # type: ignore[method-assign]
                request.urlconf = DOMAIN_URLCONF
                request.status_page_id = page_id  # type: ignore[attr-defined]
        return self.get_response(request)
