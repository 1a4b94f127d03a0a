"""What the product says by SMS and reads out on calls (pure functions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from incidents.models import Incident

SEGMENT_GSM = 160
SEGMENT_UCS2 = 70
# GSM 03.38's basic character set (what fits 160 characters in one segment); anything else
# makes the whole message UCS-2, 70 characters a segment.
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

SMS_HELP = (
    "OpsDuty: reply with the code of an alert and a letter: 4a acknowledge, 4r resolve, "
    "4e escalate; a, r or e alone act on the newest alert."
)
SMS_UNKNOWN_SENDER = (
    "OpsDuty: this phone number is not a verified number of anyone here. "
    "Add and verify it on your profile."
)


def is_gsm7(text: str) -> bool:
    return all(char in _GSM7 for char in text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def sms_notification_text(incident: Incident, *, code: int, link: str) -> str:
    """ "#12 HIGH Checkout API: Disk full on db-1. Reply 4a ack, 4r resolve, 4e escalate <link>"

    The summary is shortened so the whole text fits one segment (160 GSM-7 characters, or 70
    with other characters) where the fixed parts leave room for it.
    """
    head = (
        f"#{incident.number} {incident.urgency.upper()} {_one_line(incident.service.name)[:40]}: "
    )
    tail = f" Reply {code}a ack, {code}r resolve, {code}e escalate {link}"
    summary = _one_line(incident.summary)
    budget = SEGMENT_GSM if is_gsm7(head + summary + tail) else SEGMENT_UCS2
    room = budget - len(head) - len(tail) - 1  # the full stop
    if len(summary) > room:
        summary = summary[: max(room - 3, 12)].rstrip() + "..."  # GSM-7 has no ellipsis
    return f"{head}{summary}.{tail}"


def voice_incident_text(incident: Incident) -> str:
    """What a voice notification reads out before the menu."""
    return (
        f"This is OpsDuty with a {incident.urgency} urgency alert. "
        f"Incident {incident.number} on {_one_line(incident.service.name)}: "
        f"{_one_line(incident.summary)[:300]}."
    )


VOICE_MENU = (
    "Press 1 to acknowledge, 2 to resolve, 3 to escalate to the next step, or star to hear "
    "this again."
)
