"""The public status page (docs/status-pages.md, "The public page"): server-rendered, no
JavaScript, served from the cache (cache.py) once the visitor is let in (access.py).

Each view is reached two ways: `/status/<slug>/…` (urls.py) and `/…` on the page's custom
domain (urls_domain.py, chosen by middleware.py). `base` is the page's root on the address
used, so links stay on it; it is also the cache's variant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    HttpResponseRedirect,
)
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from opsduty.ratelimit import by_ip, rate_limited
from statuspages.models import AccessMode, Component, StatusPage
from statuspages.public.access import (
    TOKEN_PARAMETER,
    Refusal,
    access_decide,
    session_cookie_set,
)
from statuspages.public.cache import Body, cached_body
from statuspages.public.feeds import PageFeed
from statuspages.public.selectors import (
    FrontView,
    front_view,
    history_view,
    notice_view,
    public_page_get,
)
from statuspages.subscribers import services as subscribers
from statuspages.subscribers.forms import SubscribeForm
from statuspages.uptime import FORMULA, UPTIME_DAYS

HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Where:
    """The page a request is for, and the root it was addressed at."""

    page: StatusPage
    base: str
    on_domain: bool

    @property
    def variant(self) -> str:
        return "domain" if self.on_domain else "path"


def _where(request: HttpRequest, slug: str | None, *, enabled_only: bool = True) -> Where:
    if slug is None:
        page_id = getattr(request, "status_page_id", None)
        if page_id is None:
            raise Http404
        page = public_page_get(page_id=page_id)
        where = Where(page, "/", True) if page is not None else None
    elif enabled_only:
        page = public_page_get(slug=slug)
        where = Where(page, f"/status/{slug}/", False) if page is not None else None
    else:
        found = StatusPage.objects.filter(slug=slug).first()
        where = Where(found, f"/status/{slug}/", False) if found is not None else None
    if where is None:
        raise Http404
    return where


def _html(template: str, context: dict[str, Any]) -> Body:
    # Rendered without the request: no context processor (user, CSRF token, organization)
    # can put anything about the visitor into a body that the cache shares.
    return Body(render_to_string(template, context).encode(), HTML)


def _response(body: Body, page: StatusPage, status: int = 200) -> HttpResponse:
    response = HttpResponse(body.content, content_type=body.content_type, status=status)
    if page.access_mode == AccessMode.PUBLIC:
        response["Cache-Control"] = "no-cache"
    else:
        response["Cache-Control"] = "private, no-cache"
        response["X-Robots-Tag"] = "noindex"
    return response


def _refused(where: Where, refusal: Refusal) -> HttpResponse:
    html = render_to_string(
        "statuspages/public/refused.html", {"page": where.page, "reason": refusal.value}
    )
    response = HttpResponseForbidden(html)
    response["Cache-Control"] = "no-store"
    return response


PublicView = Callable[..., HttpResponse]


def public_view(view: PublicView) -> PublicView:
    """Find the page (404 if none, disabled, or not this domain's), decide access, and on a
    good custom-backend token set the page's session cookie and drop the token from the
    address."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, slug: str | None = None, **kwargs: Any) -> Any:
        where = _where(request, slug)
        decision = access_decide(request, where.page, on_custom_domain=where.on_domain)
        if decision.status == 404:
            raise Http404
        if decision.status == 302:
            return HttpResponseRedirect(decision.location)
        if decision.refusal is not None:
            return _refused(where, decision.refusal)
        if decision.new_session and decision.visitor is not None:
            query = request.GET.copy()
            query.pop(TOKEN_PARAMETER, None)
            location = request.path + (f"?{query.urlencode()}" if query else "")
            response = HttpResponseRedirect(location)
            session_cookie_set(response, where.page, decision.visitor, path=where.base)
            return response
        return view(request, where, *args, **kwargs)

    return wrapper


def _components(page: StatusPage) -> list[Component]:
    return list(
        Component.objects.filter(status_page=page).order_by("group__order", "position", "id")
    )


def _front_context(where: Where, view: FrontView) -> dict[str, Any]:
    return {
        "where": where,
        "base": where.base,
        "page": where.page,
        "view": view,
        "formula": FORMULA,
        "uptime_days": UPTIME_DAYS,
        "components": [c.component for g in view.groups for c in g.components],
    }


@require_GET
@public_view
def page_front(request: HttpRequest, where: Where) -> HttpResponse:
    """The page: headline, components with uptime, open notices, maintenance, history."""

    def render() -> Body:
        return _html("statuspages/public/front.html", _front_context(where, front_view(where.page)))

    return _response(cached_body(where.page, where.variant, "front", render), where.page)


@require_GET
@public_view
def page_history(request: HttpRequest, where: Where) -> HttpResponse:
    """Resolved notices, paged (`?page=N`)."""
    raw = request.GET.get("page", "1")
    if not raw.isdigit() or len(raw) > 6:
        raise Http404
    number = int(raw)

    def render() -> Body:
        view = history_view(where.page, number)
        if view is None:
            raise Http404
        context = {"where": where, "base": where.base, "page": where.page, "view": view}
        return _html("statuspages/public/history.html", context)

    body = cached_body(where.page, where.variant, f"history:{number}", render)
    return _response(body, where.page)


@require_GET
@public_view
def page_notice(request: HttpRequest, where: Where, notice_id: int) -> HttpResponse:
    """One notice with its visible updates and its published postmortem."""

    def render() -> Body:
        view = notice_view(where.page, notice_id)
        if view is None:
            raise Http404
        context = {"where": where, "base": where.base, "page": where.page, "view": view}
        return _html("statuspages/public/notice.html", context)

    body = cached_body(where.page, where.variant, f"notice:{notice_id}", render)
    return _response(body, where.page)


@require_GET
@public_view
def page_feed(request: HttpRequest, where: Where) -> HttpResponse:
    """The Atom feed."""

    def render() -> Body:
        feed = PageFeed(where.page, where.base)(request)
        return Body(feed.content, feed["Content-Type"])

    return _response(cached_body(where.page, where.variant, "feed", render), where.page)


def _summary(where: Where, view: FrontView) -> dict[str, Any]:
    def notice(item: Any) -> dict[str, Any]:
        n = item.notice
        return {
            "id": n.pk,
            "title": n.title,
            "status": n.status,
            "impact": n.impact,
            "created_at": n.created_at,
            "scheduled_start": n.scheduled_start,
            "scheduled_end": n.scheduled_end,
            "url": f"{where.base}incidents/{n.pk}/",
            "components": item.component_names,
            "updates": [
                {"status": u.update.status or None, "body": u.update.body, "published_at": u.at}
                for u in item.updates
            ],
        }

    return {
        "page": {"id": where.page.pk, "name": where.page.name, "url": where.base},
        "status": {"indicator": view.status, "description": view.headline},
        "components": [
            {
                "id": c.component.pk,
                "name": c.component.name,
                "group": g.group.name,
                "status": c.status,
                "uptime_percent": round(c.percent, 4) if c.percent is not None else None,
            }
            for g in view.groups
            for c in g.components
        ],
        "open_notices": [notice(n) for n in view.open_notices],
        "maintenance": [notice(n) for n in view.maintenance],
    }


@require_GET
@public_view
def page_summary(request: HttpRequest, where: Where) -> HttpResponse:
    """The JSON summary: page, status, components, open notices and maintenance."""

    def render() -> Body:
        data = _summary(where, front_view(where.page))
        return Body(orjson.dumps(data), "application/json")

    return _response(cached_body(where.page, where.variant, "summary", render), where.page)


def _same_origin(request: HttpRequest) -> bool:
    """A browser's cross-site POST names its origin: refuse it (the form needs no CSRF
    token, which would keep the page out of the shared cache; SameSite=Lax cookies already
    keep a private page's session off such a POST)."""
    origin = request.META.get("HTTP_ORIGIN")
    if not origin or origin == "null":
        return origin is None
    return bool(urlsplit(origin).netloc == request.get_host())


@csrf_exempt
@require_POST
@rate_limited("statuspage_subscribe", key=by_ip)
@public_view
def page_subscribe(request: HttpRequest, where: Where) -> HttpResponse:
    """The subscribe form's POST: the same answer whether or not the address is known."""
    if not _same_origin(request):
        return HttpResponseForbidden("Cross-site form posts are refused.")
    form = SubscribeForm(request.POST, components=_components(where.page))
    context: dict[str, Any] = {"where": where, "base": where.base, "page": where.page}
    if not form.is_valid():
        context["form"] = form
        html = render_to_string("statuspages/public/subscribe.html", context)
        return HttpResponseBadRequest(html)
    subscribers.subscribe(
        page=where.page,
        email=form.cleaned_data["email"],
        component_ids=form.cleaned_data["components"],
    )
    response = HttpResponse(render_to_string("statuspages/public/subscribed.html", context))
    response["Cache-Control"] = "no-store"
    return response


def _token_page(
    request: HttpRequest, slug: str | None, token: str, action: str
) -> tuple[Where, HttpResponse | None]:
    where = _where(request, slug, enabled_only=action == "confirm")
    subscriber = subscribers.subscriber_get(page=where.page, token=token)
    if subscriber is None:
        context = {"where": where, "base": where.base, "page": where.page, "action": action}
        html = render_to_string("statuspages/public/link_unknown.html", context)
        return where, HttpResponse(html, status=404)
    return where, None


@csrf_exempt  # the token in the address is the credential
@require_http_methods(["GET", "POST"])
def subscription_confirm(request: HttpRequest, token: str, slug: str | None = None) -> HttpResponse:
    """GET shows a button (link scanners must not confirm); POST confirms."""
    where, unknown = _token_page(request, slug, token, "confirm")
    if unknown is not None:
        return unknown
    done = request.method == "POST" and subscribers.subscription_confirm(
        page=where.page, token=token
    )
    context = {"where": where, "base": where.base, "page": where.page, "done": done}
    response = HttpResponse(render_to_string("statuspages/public/confirm.html", context))
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # the token is the credential; RFC 8058 one-click POSTs come from mail clients
@require_http_methods(["GET", "POST"])
def subscription_unsubscribe(
    request: HttpRequest, token: str, slug: str | None = None
) -> HttpResponse:
    """GET shows a button; POST (the button, or a mail client's one-click) unsubscribes."""
    where, unknown = _token_page(request, slug, token, "unsubscribe")
    if unknown is not None:
        if request.method == "POST":
            # Already gone (a second click): the outcome the visitor wanted.
            context = {"where": where, "base": where.base, "page": where.page, "done": True}
            return HttpResponse(render_to_string("statuspages/public/unsubscribe.html", context))
        return unknown
    done = request.method == "POST" and subscribers.unsubscribe(page=where.page, token=token)
    context = {"where": where, "base": where.base, "page": where.page, "done": done}
    response = HttpResponse(render_to_string("statuspages/public/unsubscribe.html", context))
    response["Cache-Control"] = "no-store"
    return response


__all__ = [
    "page_feed",
    "page_front",
    "page_history",
    "page_notice",
    "page_subscribe",
    "page_summary",
    "subscription_confirm",
    "subscription_unsubscribe",
]


def domain_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 on a custom domain: the product's error page names the product's own URLs,
    which this domain's URLconf does not have."""
    html = render_to_string("statuspages/public/error.html", {"title": "Page not found"})
    return HttpResponse(html, status=404)


def domain_server_error(request: HttpRequest) -> HttpResponse:
    """500 on a custom domain (see `domain_not_found`)."""
    html = render_to_string("statuspages/public/error.html", {"title": "Something went wrong"})
    return HttpResponse(html, status=500)
