"""Who may read a status page (docs/status-pages.md, "Access modes", "Custom domains")."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from opsduty.models import Organization, User
from statuspages.models import AccessMode, StatusPage
from statuspages.public.access import Refusal, access_token_make, cookie_name
from tests.conftest import session_client_for
from tests.statuspages.world import make_notice, make_page

pytestmark = pytest.mark.django_db
SECRET = "page-key-0123456789abcdef0123456789"


@pytest.fixture
def members_page(org_a: Organization) -> StatusPage:
    page = make_page(organization=org_a, slug="internal", access_mode=AccessMode.OPSDUTY_MEMBERS)
    make_notice(page, "Internal notice")
    return page


@pytest.fixture
def custom_page(org_a: Organization) -> StatusPage:
    page = make_page(
        organization=org_a,
        slug="customers",
        access_mode=AccessMode.CUSTOM_BACKEND,
        access_secret=SECRET,
    )
    make_notice(page, "Customers-only notice")
    return page


def _token(
    page: StatusPage, *, secret: str = SECRET, page_id: int | None = None, ttl: int = 300
) -> str:
    return access_token_make(
        page_id=page.pk if page_id is None else page_id,
        secret=secret,
        subject="customer-42",
        expires_at=int(time.time()) + ttl,
    )


def test_members_see_their_organizations_page(members_page: StatusPage, member: User) -> None:
    response = session_client_for(member).get("/status/internal/")
    assert response.status_code == 200
    assert "Internal notice" in response.content.decode()
    assert response["Cache-Control"] == "private, no-cache"


def test_anonymous_visitors_are_sent_to_sign_in_and_back(members_page: StatusPage) -> None:
    for url in ("/status/internal/", "/status/internal/feed.atom", "/status/internal/summary.json"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
        assert "Internal notice" not in response.content.decode()


def test_people_of_another_organization_get_404(members_page: StatusPage, outsider: User) -> None:
    client = session_client_for(outsider)
    for url in ("/status/internal/", "/status/internal/summary.json", "/status/internal/feed.atom"):
        response = client.get(url)
        assert response.status_code == 404
        assert "Internal notice" not in response.content.decode()


def test_a_signed_in_visit_then_an_anonymous_one_never_shares_the_page(
    members_page: StatusPage, member: User
) -> None:
    assert session_client_for(member).get("/status/internal/").status_code == 200
    # The body is cached now; the cache is read only after access is decided.
    response = Client().get("/status/internal/")
    assert response.status_code == 302
    assert "Internal notice" not in response.content.decode()


def test_a_good_token_becomes_a_session_for_the_page(custom_page: StatusPage) -> None:
    client = Client()
    response = client.get(f"/status/customers/?token={_token(custom_page)}")
    assert response.status_code == 302
    assert response["Location"] == "/status/customers/"
    cookie = response.cookies[cookie_name(custom_page)]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/status/customers/"

    page = client.get("/status/customers/")
    assert page.status_code == 200
    assert "Customers-only notice" in page.content.decode()
    assert client.get("/status/customers/summary.json").status_code == 200


def test_without_a_token_or_session_the_page_says_why_it_refuses(custom_page: StatusPage) -> None:
    response = Client().get("/status/customers/")
    assert response.status_code == 403
    html = response.content.decode()
    assert Refusal.NO_SESSION.value in html
    assert "Customers-only notice" not in html


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda page: _token(page, ttl=-5), Refusal.EXPIRED),
        (lambda page: _token(page, secret="not-the-page-key"), Refusal.FORGED),
        (lambda page: _token(page)[:-4] + "AAAA", Refusal.FORGED),
        (lambda page: _token(page, page_id=page.pk + 1000), Refusal.OTHER_PAGE),
        (lambda page: "not-a-token", Refusal.MALFORMED),
    ],
    ids=["expired", "wrong-key", "altered-signature", "other-page", "malformed"],
)
def test_bad_tokens_are_refused_with_the_reason(
    custom_page: StatusPage, make: object, reason: Refusal
) -> None:
    client = Client()
    response = client.get("/status/customers/", {"token": make(custom_page)})  # type: ignore[operator]
    assert response.status_code == 403
    html = response.content.decode()
    assert reason.value in html
    assert "Customers-only notice" not in html
    assert cookie_name(custom_page) not in response.cookies
    assert client.get("/status/customers/").status_code == 403


def test_a_token_of_another_page_with_its_own_key_opens_only_that_page(
    custom_page: StatusPage, org_a: Organization
) -> None:
    other = make_page(
        organization=org_a,
        slug="partners",
        access_mode=AccessMode.CUSTOM_BACKEND,
        access_secret="another-key-for-another-page-123456",
    )
    token = _token(other, secret="another-key-for-another-page-123456")
    client = Client()
    assert client.get(f"/status/customers/?token={token}").status_code == 403
    assert client.get(f"/status/partners/?token={token}").status_code == 302
    # The session cookie is bound to its page: it does not open the first one.
    assert client.get("/status/partners/").status_code == 200
    assert client.get("/status/customers/").status_code == 403


def test_a_rotated_key_ends_the_sessions_made_under_the_old_one(custom_page: StatusPage) -> None:
    client = Client()
    client.get(f"/status/customers/?token={_token(custom_page)}")
    assert client.get("/status/customers/").status_code == 200
    custom_page.access_secret = "a-brand-new-key-0123456789abcdef"
    custom_page.save(update_fields=["access_secret"])
    assert client.get("/status/customers/").status_code == 403


def test_a_forged_session_cookie_is_refused(custom_page: StatusPage) -> None:
    client = Client()
    client.cookies[cookie_name(custom_page)] = "customer-42:forged:signature"
    assert client.get("/status/customers/").status_code == 403


# --- custom domains ------------------------------------------------------------------------


def test_a_custom_domain_serves_its_page_at_the_root(org_a: Organization) -> None:
    page = make_page(organization=org_a, slug="acme", domain="status.acme.test")
    notice = make_notice(page, "Acme notice")
    client = Client(HTTP_HOST="status.acme.test")

    front = client.get("/")
    assert front.status_code == 200
    html = front.content.decode()
    assert "Acme notice" in html
    assert f'href="/incidents/{notice.pk}/"' in html
    assert 'href="/feed.atom"' in html
    assert client.get(f"/incidents/{notice.pk}/").status_code == 200
    assert client.get("/summary.json").status_code == 200
    # The product's own pages are not served on a customer's domain.
    assert client.get("/login/").status_code == 404
    assert client.get("/status/acme/").status_code == 404


def test_one_domain_never_serves_another_page_or_organization(
    org_a: Organization, org_b: Organization
) -> None:
    page_a = make_page(organization=org_a, slug="a-page", domain="status.a.test")
    page_b = make_page(organization=org_b, slug="b-page", domain="status.b.test")
    make_notice(page_a, "A's notice")
    notice_b = make_notice(page_b, "B's notice")
    client = Client(HTTP_HOST="status.a.test")

    assert "B's notice" not in client.get("/").content.decode()
    assert client.get(f"/incidents/{notice_b.pk}/").status_code == 404
    assert "B&#x27;s notice" in Client(HTTP_HOST="status.b.test").get("/").content.decode()


def test_unknown_hosts_are_still_refused(org_a: Organization) -> None:
    make_page(organization=org_a, slug="acme", domain="status.acme.test")
    assert Client(HTTP_HOST="evil.test").get("/").status_code == 400
    assert Client(HTTP_HOST="status.acme.test.evil.test").get("/").status_code == 400


def test_a_disabled_pages_domain_answers_404(org_a: Organization) -> None:
    make_page(organization=org_a, slug="acme", domain="status.acme.test", enabled=False)
    assert Client(HTTP_HOST="status.acme.test").get("/").status_code == 404


def test_members_mode_on_a_custom_domain_signs_in_on_opsduty(
    org_a: Organization, settings: object
) -> None:
    make_page(
        organization=org_a,
        slug="internal",
        domain="status.internal.test",
        access_mode=AccessMode.OPSDUTY_MEMBERS,
    )
    response = Client(HTTP_HOST="status.internal.test").get("/")
    assert response.status_code == 302
    assert response["Location"].endswith("/login/?next=%2Fstatus%2Finternal%2F")


def test_a_token_on_the_custom_domain_sets_a_cookie_for_the_domain_root(
    org_a: Organization,
) -> None:
    page = make_page(
        organization=org_a,
        slug="customers",
        domain="status.customers.test",
        access_mode=AccessMode.CUSTOM_BACKEND,
        access_secret=SECRET,
    )
    client = Client(HTTP_HOST="status.customers.test")
    response = client.get(f"/?token={_token(page)}")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert response.cookies[cookie_name(page)]["path"] == "/"
    assert client.get("/").status_code == 200
