"""Small helpers shared by the UI tests."""

from __future__ import annotations

from django.test import Client

from tests import factories

# The header htmx sends with every request it makes.
HTMX = {"HX-Request": "true"}


def signed_in(client: Client) -> bool:
    """True when `client` is still signed in (its session passes the auth hash check)."""
    return client.get("/profile/").status_code == 200


def login_data(domain: str, email: str, password: str = factories.PASSWORD) -> dict[str, str]:
    return {"domain": domain, "email": email, "password": password}
