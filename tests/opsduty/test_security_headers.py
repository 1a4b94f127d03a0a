"""Security headers (docs/security.md): the Content-Security-Policy without inline code or
eval, framing refused, no MIME sniffing, and HSTS + secure cookies on a secure request."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from opsduty.models import User
from tests.ui.helpers import login_data

pytestmark = pytest.mark.django_db


def _policy(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_locked_down(response: Any) -> None:
    policy = _policy(response)
    for directive in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in policy[directive]
        assert "'unsafe-eval'" not in policy[directive]
        assert policy[directive][0] == "'self'"
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_a_ui_page_has_the_policy_and_its_inline_script_the_nonce(owner_client: Client) -> None:
    response = owner_client.get("/incidents/")
    assert response.status_code == 200
    _assert_locked_down(response)
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert nonce is not None
    html = response.content.decode()
    # Every inline <script> carries this response's nonce; no style="" attribute is left.
    for match in re.finditer(r"<script(?P<attrs>[^>]*)>", html):
        attrs = match.group("attrs")
        assert "src=" in attrs or f'nonce="{nonce.group(1)}"' in attrs
    assert "style=" not in html
    assert " onclick=" not in html


def test_each_answer_gets_a_fresh_nonce(owner_client: Client) -> None:
    first = owner_client.get("/incidents/")["Content-Security-Policy"]
    second = owner_client.get("/incidents/")["Content-Security-Policy"]
    assert re.search(r"'nonce-[^']+'", first)
    assert first != second


def test_an_api_answer_has_the_headers(owner_api: Client) -> None:
    response = owner_api.get("/api/v1/services/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    _assert_locked_down(response)


def test_error_pages_have_the_headers(owner_client: Client, owner_api: Client) -> None:
    page = owner_client.get("/no-such-page/")
    assert page.status_code == 404
    _assert_locked_down(page)
    api = owner_api.get("/api/v1/no-such-thing/")
    assert api.status_code == 404
    assert api.json() == {"detail": "Not found."}
    _assert_locked_down(api)


def test_the_sign_in_page_has_the_headers() -> None:
    response = Client().get("/login/")
    assert response.status_code == 200
    _assert_locked_down(response)
    assert "Strict-Transport-Security" not in response  # plain HTTP: never HSTS


def test_swagger_ui_loads_its_init_script_from_a_url(client: Client) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    _assert_locked_down(page)
    html = page.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", page["Content-Security-Policy"])
    assert nonce is not None
    assert f'<style nonce="{nonce.group(1)}">' in html
    script = re.search(r'<script src="([^"]*script=[^"]*)"', html)
    assert script is not None, html
    init = client.get(script.group(1).replace("&amp;", "&"))
    assert init.status_code == 200
    assert "SwaggerUIBundle" in init.content.decode()


def test_a_secure_request_gets_hsts_and_secure_cookies(
    owner: User, settings: Any, client: Client
) -> None:
    # tests/conftest.py turns secure cookies off for the plain-HTTP test server; here the
    # production values are back (the defaults with DEBUG off: the next test).
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    page = client.get("/login/", secure=True)
    assert page.status_code == 200
    assert page["Strict-Transport-Security"] == f"max-age={365 * 24 * 3600}"
    assert page.cookies["csrftoken"]["secure"] is True
    response = client.post("/login/", login_data("org-a", "owner@a.example"), secure=True)
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"] is True
    assert response.cookies["sessionid"]["httponly"] is True
    assert response["Strict-Transport-Security"].startswith("max-age=")


def test_behind_a_tls_proxy_the_forwarded_proto_makes_a_request_secure(
    settings: Any, client: Client
) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client.get("/login/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == f"max-age={365 * 24 * 3600}"
    assert "Strict-Transport-Security" not in client.get("/login/")


_SHOW = (
    "from django.conf import settings as s; import json; print(json.dumps(["
    "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS,"
    " getattr(s, 'SECURE_PROXY_SSL_HEADER', None)]))"
)


def _settings_with(**env: str) -> list[Any]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "opsduty.settings", **env}
    environment.pop("OPSDUTY_SECURE_COOKIES", None)
    environment.pop("OPSDUTY_HSTS_SECONDS", None)
    code = "import django; django.setup(); " + _SHOW
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    result: list[Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_defaults_are_secure_without_debug_and_relaxed_with_it() -> None:
    assert django_settings.ROOT_URLCONF  # the settings module loads in this process too
    production = _settings_with(OPSDUTY_DEBUG="0", OPSDUTY_BEHIND_TLS_PROXY="1")
    assert production == [True, True, 365 * 24 * 3600, ["HTTP_X_FORWARDED_PROTO", "https"]]
    development = _settings_with(OPSDUTY_DEBUG="1", OPSDUTY_BEHIND_TLS_PROXY="0")
    assert development == [False, False, 0, None]
