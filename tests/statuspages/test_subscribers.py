"""Subscribers (docs/status-pages.md, "Subscribers"): double opt-in, announcements through
the outbox, one-click unsubscribe, and what the form never tells."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from opsduty.crypto import secret_digest
from opsduty.models import Organization, User
from statuspages.events import Announcement, Kind, announce
from statuspages.models import (
    Component,
    StatusPage,
    Subscriber,
    SubscriberMail,
    SubscriberMailStatus,
)
from statuspages.subscribers import services
from tests.conftest import session_client_for
from tests.statuspages.world import make_component, make_group, make_notice, make_page, post_update

pytestmark = pytest.mark.django_db
Capture = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]
LINK = re.compile(r"http://\S+/status/acme/subscribers/(confirm|unsubscribe)/(\w+)/")


@pytest.fixture
def page(org_a: Organization) -> StatusPage:
    return make_page(organization=org_a, name="Acme status", slug="acme")


@pytest.fixture
def components(page: StatusPage) -> tuple[Component, Component]:
    group = make_group(page, "Core", order=0)
    return make_component(group, "API", 0), make_component(group, "Web", 1)


@pytest.fixture
def sending(
    eager_tasks: None, django_capture_on_commit_callbacks: Capture
) -> Iterator[Callable[[], AbstractContextManager[Any]]]:
    """`with sending():` runs the after-commit deliveries queued inside, at once."""
    mail.outbox.clear()
    yield lambda: django_capture_on_commit_callbacks(execute=True)


def _links(message: Any) -> dict[str, str]:
    return {
        kind: url for url, kind in ((m.group(0), m.group(1)) for m in LINK.finditer(message.body))
    }


def _subscribe(sending: Any, email: str, components: list[int] = ()) -> str:  # type: ignore[assignment]
    with sending():
        response = Client().post(
            "/status/acme/subscribe/", {"email": email, "components": components}
        )
    assert response.status_code == 200
    return response.content.decode()


def _confirm(url: str) -> None:
    path = url.split("://", 1)[1].split("/", 1)[1]
    assert "Confirm my subscription" in Client().get(f"/{path}").content.decode()
    assert "Subscription confirmed" in Client().post(f"/{path}").content.decode()


def test_subscribe_confirm_announce_and_unsubscribe_in_one_click(
    page: StatusPage, components: tuple[Component, Component], sending: Any
) -> None:
    html = _subscribe(sending, "Reader@Example.com")
    assert "Check your inbox" in html
    [confirmation] = mail.outbox
    assert confirmation.to == ["reader@example.com"]
    assert confirmation.subject == "Confirm your subscription to Acme status"
    links = _links(confirmation)

    # Unconfirmed: an announcement sends nothing.
    notice = make_notice(page, "Elevated errors", components=[components[0]])
    mail.outbox.clear()
    with sending():
        announce(Announcement(Kind.NOTICE_PUBLISHED, notice))
    assert mail.outbox == []

    _confirm(links["confirm"])
    update = post_update(notice, "We found the cause")
    with sending():
        announce(Announcement(Kind.UPDATE_VISIBLE, notice, update=update))
    [announcement] = mail.outbox
    assert announcement.subject == "[Acme status] Elevated errors: Investigating"
    assert "We found the cause" in announcement.body
    assert f"/status/acme/incidents/{notice.pk}/" in announcement.body
    unsubscribe = _links(announcement)["unsubscribe"]
    assert announcement.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert announcement.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert SubscriberMail.objects.filter(status=SubscriberMailStatus.SENT).count() == 2

    # RFC 8058: the mail client POSTs this body to the link, without cookies or CSRF token.
    path = "/" + unsubscribe.split("://", 1)[1].split("/", 1)[1]
    response = Client(enforce_csrf_checks=True).post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert "Unsubscribed" in response.content.decode()
    assert not Subscriber.objects.exists()
    mail.outbox.clear()
    with sending():
        announce(Announcement(Kind.UPDATE_VISIBLE, notice, update=post_update(notice, "More")))
    assert mail.outbox == []
    # The link again: still the answer the visitor wanted.
    assert Client().post(path).status_code == 200


def test_an_unsubscribe_link_opened_in_a_browser_asks_first(page: StatusPage, sending: Any) -> None:
    _subscribe(sending, "reader@example.com")
    path = "/" + _links(mail.outbox[0])["unsubscribe"].split("://", 1)[1].split("/", 1)[1]
    assert "Unsubscribe from Acme status" in Client().get(path).content.decode()
    assert Subscriber.objects.count() == 1


def test_subscribers_of_components_hear_only_about_those(
    page: StatusPage, components: tuple[Component, Component], sending: Any
) -> None:
    api, web = components
    _subscribe(sending, "api@example.com", [api.pk])
    _subscribe(sending, "all@example.com")
    for message in list(mail.outbox):
        _confirm(_links(message)["confirm"])
    mail.outbox.clear()

    web_notice = make_notice(page, "Web is slow", components=[web])
    with sending():
        announce(Announcement(Kind.NOTICE_PUBLISHED, web_notice))
    assert [m.to for m in mail.outbox] == [["all@example.com"]]

    mail.outbox.clear()
    api_notice = make_notice(page, "API is down", components=[api])
    with sending():
        announce(Announcement(Kind.NOTICE_PUBLISHED, api_notice))
        announce(Announcement(Kind.NOTICE_PUBLISHED, api_notice))  # a repeat sends nothing twice
    assert sorted(m.to[0] for m in mail.outbox) == ["all@example.com", "api@example.com"]


def test_drafts_are_never_announced(page: StatusPage, sending: Any) -> None:
    _subscribe(sending, "reader@example.com")
    _confirm(_links(mail.outbox[0])["confirm"])
    mail.outbox.clear()
    with sending():
        announce(Announcement(Kind.NOTICE_PUBLISHED, make_notice(page, "Draft", draft=True)))
    assert mail.outbox == []


def test_the_form_never_tells_whether_an_address_is_subscribed(
    page: StatusPage, components: tuple[Component, Component], sending: Any
) -> None:
    api, web = components
    first = _subscribe(sending, "known@example.com", [api.pk])
    _confirm(_links(mail.outbox[0])["confirm"])
    mail.outbox.clear()
    # Past the resend pause (RESEND_AFTER) of the first confirmation mail.
    SubscriberMail.objects.update(created_at=timezone.now() - services.RESEND_AFTER * 2)
    fresh = _subscribe(sending, "new@example.com")
    again = _subscribe(sending, "known@example.com", [web.pk])

    assert first == fresh == again
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert subjects == {
        "new@example.com": "Confirm your subscription to Acme status",
        "known@example.com": "You are subscribed to Acme status",
    }
    # Whoever posted the form does not own the address: nothing changed.
    known = Subscriber.objects.get(email="known@example.com")
    assert list(known.components.values_list("pk", flat=True)) == [api.pk]


def test_repeated_requests_do_not_flood_an_inbox(page: StatusPage, sending: Any) -> None:
    for _ in range(3):
        _subscribe(sending, "reader@example.com")
    assert len(mail.outbox) == 1


def test_the_token_is_stored_only_as_its_digest(page: StatusPage, sending: Any) -> None:
    _subscribe(sending, "reader@example.com")
    found = LINK.search(str(mail.outbox[0].body))
    assert found is not None
    token = found.group(2)
    subscriber = Subscriber.objects.get()
    assert subscriber.token_digest == secret_digest(token)
    row = Subscriber.objects.filter(pk=subscriber.pk).values().get()
    assert token not in " ".join(str(v) for v in row.values())


def test_the_subscribe_form_is_rate_limited(page: StatusPage, settings: Any) -> None:
    settings.OPSDUTY_RATE_LIMITS = {
        **settings.OPSDUTY_RATE_LIMITS,
        "statuspage_subscribe": "2/minute",
    }
    client = Client()
    statuses = [
        client.post("/status/acme/subscribe/", {"email": f"r{n}@example.com"}).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_bad_addresses_and_cross_site_posts_are_refused(page: StatusPage) -> None:
    client = Client()
    response = client.post("/status/acme/subscribe/", {"email": "not an address"})
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    response = client.post(
        "/status/acme/subscribe/", {"email": "a@example.com"}, HTTP_ORIGIN="https://evil.test"
    )
    assert response.status_code == 403
    assert not Subscriber.objects.exists()


def test_a_failed_send_is_retried_and_every_attempt_logged(
    page: StatusPage, settings: Any, sending: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    _subscribe(sending, "reader@example.com")
    row = SubscriberMail.objects.get()
    assert (row.status, row.attempts) == (SubscriberMailStatus.PENDING, 1)
    assert row.due_at > timezone.now()
    assert "ConnectionRefusedError" in row.last_error

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert services.mail_deliver(mail_id=row.pk) is None  # not due yet
    assert services.mail_deliver(mail_id=row.pk, now=row.due_at) == "sent"
    row.refresh_from_db()
    assert (row.status, row.attempts) == (SubscriberMailStatus.SENT, 2)
    assert [a.outcome for a in row.attempt_log.all()] == ["retry", "sent"]
    assert len(mail.outbox) == 1


def test_the_sweeper_sends_rows_whose_task_was_lost(page: StatusPage, sending: Any) -> None:
    _subscribe(sending, "reader@example.com")
    _confirm(_links(mail.outbox[0])["confirm"])
    mail.outbox.clear()
    announce(Announcement(Kind.NOTICE_PUBLISHED, make_notice(page, "Lost task")))  # no commit
    later = timezone.now() + timedelta(seconds=30)
    due = services.mails_to_sweep(now=later)
    assert len(due) == 1
    assert [services.mail_deliver(mail_id=pk, now=later) for pk in due] == ["sent"]
    assert mail.outbox[0].subject == "[Acme status] Lost task: Investigating"


@pytest.mark.usefixtures("dev_inbox")
def test_under_make_run_the_owners_read_the_confirmation_in_the_development_inbox(
    page: StatusPage, sending: Any, owner: User, outsider: User
) -> None:
    """With no SMTP server, a visitor's confirmation is in the page's organization's
    /dev/inbox/ (not another's), and its link confirms the subscription."""
    _subscribe(sending, "reader@example.com")
    mine = session_client_for(owner).get("/dev/inbox/").content.decode()
    assert "Confirm your subscription to Acme status" in mine
    assert "reader@example.com" in mine
    links = {m.group(1): m.group(0) for m in LINK.finditer(unescape(mine))}
    theirs = session_client_for(outsider).get("/dev/inbox/").content.decode()
    assert "Acme status" not in theirs
    assert "reader@example.com" not in theirs

    _confirm(links["confirm"])
    assert Subscriber.objects.get(email="reader@example.com").confirmed_at is not None
