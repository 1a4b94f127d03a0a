"""Email through Django's configured email backend (SMTP in production, see docs)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse

from escalations.notifications.providers import DeliveryError, Receipt

if TYPE_CHECKING:
    from escalations.notifications.models import Notification

# SMTP answers starting with 5 are permanent (RFC 5321 §4.2.1); connection trouble and 4xx
# answers may pass, so they are retried.
_PERMANENT_SMTP = 500


def email_subject(notification: Notification) -> str:
    incident = notification.incident
    subject = f"[OpsDuty] #{incident.number} {incident.summary}"
    return " ".join(subject.split())[:250]  # header-safe: no newlines, bounded


def email_body(notification: Notification) -> str:
    incident = notification.incident
    url = settings.OPSDUTY_PUBLIC_URL + reverse(
        "incident_detail", kwargs={"incident_id": incident.pk}
    )
    lines = [
        f"Incident #{incident.number}: {incident.summary}",
        f"Status: {incident.get_status_display()}",
        f"Urgency: {incident.get_urgency_display()}",
        f"Service: {incident.service.name}",
    ]
    if notification.reason:
        lines.append(f"Why you: {notification.reason}")
    lines += ["", f"Open the incident: {url}"]
    return "\n".join(lines)


def message_id(notification: Notification) -> str:
    """The same Message-ID on every attempt of a notification (a re-send after a sender died
    mid-send, a retry): a receiver that drops duplicate Message-IDs shows it once. The row's
    creation time keeps it unique when a reset database reuses the id."""
    domain = urlsplit(settings.OPSDUTY_PUBLIC_URL).hostname or "opsduty.invalid"
    created = int(notification.created_at.timestamp() * 1_000_000)
    return f"<notification-{notification.pk}.{created}@{domain}>"


class EmailProvider:
    """Sends one email per notification to the user's address."""

    def send(self, notification: Notification) -> Receipt:
        address = notification.user.email
        if not address:
            raise DeliveryError("the user has no email address", permanent=True)
        message = EmailMessage(
            subject=email_subject(notification),
            body=email_body(notification),
            to=[address],
            headers={
                "X-OpsDuty-Notification": str(notification.pk),
                "Message-ID": message_id(notification),
            },
        )
        try:
            message.send(fail_silently=False)
        except Exception as error:  # noqa: BLE001 - every backend error is the provider's answer
            code = getattr(error, "smtp_code", 0)
            permanent = isinstance(code, int) and code >= _PERMANENT_SMTP
            raise DeliveryError(f"{type(error).__name__}: {error}", permanent=permanent) from error
        return Receipt(answer="sent", data={"to": address})
