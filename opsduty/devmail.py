"""The development inbox: with no SMTP server configured (`make run`), mail is kept and shown
at /dev/inbox/ instead of only scrolling past in the console.

`InboxEmailBackend` prints each message as the console backend does and keeps it in a
capped Redis list (the web process shows what a worker sent). Owners see the mail sent to
people of their organization, to the addresses it invited, and to the addresses other apps
register as the organization's (`inbox_addresses_register`: a status page's subscribers,
statuspages/apps.py). On only when
`OPSDUTY_DEV_INBOX` is set, which `DEBUG` defaults it to: a production server never keeps
mail.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import redis
from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.console import EmailBackend as ConsoleEmailBackend
from django.utils import timezone

from opsduty.models import Invitation, Organization, User

INBOX_KEY = "opsduty:dev:inbox"
INBOX_SIZE = 500


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2.0)


@dataclass(frozen=True)
class InboxMail:
    id: str
    sent_at: datetime
    sender: str
    to: list[str]
    subject: str
    body: str


class InboxEmailBackend(ConsoleEmailBackend):
    """The console backend that also keeps each message for the development inbox."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = super().send_messages(email_messages)
        kept = [
            orjson.dumps(
                {
                    "id": uuid.uuid4().hex,
                    "sent_at": timezone.now().isoformat(),
                    "sender": message.from_email,
                    "to": list(message.to) + list(message.cc) + list(message.bcc),
                    "subject": message.subject,
                    "body": message.body,
                }
            )
            for message in email_messages
        ]
        if kept:
            pipe = _redis().pipeline()
            pipe.lpush(INBOX_KEY, *kept)
            pipe.ltrim(INBOX_KEY, 0, INBOX_SIZE - 1)
            pipe.execute()
        return sent


AddressSource = Callable[[Organization], Iterable[str]]
_address_sources: list[AddressSource] = []


def inbox_addresses_register(source: AddressSource) -> None:
    """`source(organization)`: more addresses whose mail the organization's owners may read in
    the development inbox (mail the organization's own features sent them)."""
    if source not in _address_sources:
        _address_sources.append(source)


def dev_inbox_list(*, organization: Organization, limit: int = 100) -> list[InboxMail]:
    """The newest kept mail sent to people of `organization`, to addresses it invited or to
    the addresses registered as its (not to anyone else's)."""
    people = User.objects.filter(organization=organization).values_list("email", flat=True)
    invited = Invitation.objects.for_org(organization).values_list("email", flat=True)
    registered = [email for source in _address_sources for email in source(organization)]
    addresses = {email.lower() for email in [*people, *invited, *registered]}
    mails = []
    for raw in _redis().lrange(INBOX_KEY, 0, INBOX_SIZE - 1):
        item = orjson.loads(raw)
        recipients = [str(to) for to in item["to"]]
        if not any(to.lower() in addresses for to in recipients):
            continue
        mails.append(
            InboxMail(
                id=str(item["id"]),
                sent_at=datetime.fromisoformat(item["sent_at"]),
                sender=str(item["sender"]),
                to=recipients,
                subject=str(item["subject"]),
                body=str(item["body"]),
            )
        )
        if len(mails) >= limit:
            break
    return mails
