"""The text of subscribers' mails. Every mail carries its one-click unsubscribe link, in the
body and as `List-Unsubscribe` with `List-Unsubscribe-Post` (RFC 8058: a mail client POSTs
`List-Unsubscribe=One-Click` to the link). Links point at the page's /status/<slug>/ address
on OPSDUTY_PUBLIC_URL, which is served whatever the page's custom domain is."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from statuspages.models import (
    NoticeStatus,
    StatusPage,
    SubscriberMail,
    SubscriberMailKind,
)


class Unsendable(Exception):
    """The mail must not go out (what it announces is gone or hidden again)."""


def page_url(page: StatusPage) -> str:
    return f"{settings.OPSDUTY_PUBLIC_URL}/status/{page.slug}/"


def unsubscribe_url(page: StatusPage, token: str) -> str:
    return f"{page_url(page)}subscribers/unsubscribe/{token}/"


def confirm_url(page: StatusPage, token: str) -> str:
    return f"{page_url(page)}subscribers/confirm/{token}/"


def _subject(mail: SubscriberMail, page: StatusPage) -> str:
    notice = mail.notice
    if mail.kind == SubscriberMailKind.CONFIRM:
        return f"Confirm your subscription to {page.name}"
    if mail.kind == SubscriberMailKind.ALREADY:
        return f"You are subscribed to {page.name}"
    assert notice is not None
    if mail.kind == SubscriberMailKind.POSTMORTEM_PUBLISHED:
        return f"[{page.name}] Postmortem: {notice.title}"
    if mail.kind == SubscriberMailKind.MAINTENANCE_STARTED:
        return f"[{page.name}] Maintenance started: {notice.title}"
    update = mail.update
    status = (update.status or update.requested_status) if update is not None else ""
    label = NoticeStatus(status).label if status else notice.get_status_display()
    return f"[{page.name}] {notice.title}: {label}"


def _check_visible(mail: SubscriberMail) -> None:
    if mail.kind in (SubscriberMailKind.CONFIRM, SubscriberMailKind.ALREADY):
        return
    if mail.subscriber.confirmed_at is None:
        raise Unsendable("the subscriber has not confirmed")
    notice = mail.notice
    if notice is None or notice.draft:
        raise Unsendable("the notice is not published")
    if mail.update is not None and not mail.update.visible:
        raise Unsendable("the update is not visible")
    if not mail.subscriber.status_page.enabled:
        raise Unsendable("the page is disabled")


def mail_message(mail: SubscriberMail, token: str) -> EmailMessage:
    """The message of an outbox row (`Unsendable` if it must not go out any more)."""
    _check_visible(mail)
    page = mail.subscriber.status_page
    postmortem = None
    if mail.kind == SubscriberMailKind.POSTMORTEM_PUBLISHED and mail.notice is not None:
        postmortem = getattr(mail.notice, "postmortem", None)
        if postmortem is None or not postmortem.published:
            raise Unsendable("the postmortem is not published")
    context = {
        "mail": mail,
        "page": page,
        "notice": mail.notice,
        "update": mail.update,
        "postmortem": postmortem,
        "page_url": page_url(page),
        "notice_url": f"{page_url(page)}incidents/{mail.notice.pk}/" if mail.notice else "",
        "confirm_url": confirm_url(page, token),
        "unsubscribe_url": unsubscribe_url(page, token),
    }
    body = render_to_string(f"statuspages/mail/{mail.kind}.txt", context)
    unsubscribe = unsubscribe_url(page, token)
    return EmailMessage(
        subject=_subject(mail, page),
        body=body,
        to=[mail.subscriber.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
