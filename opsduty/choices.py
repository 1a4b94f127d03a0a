"""The incident vocabulary that every stage shares: statuses, the open ones, urgencies, and
the lengths of the fields that a rendered event fills.

It lives in the core because the stages before incidents speak it too (a heartbeat's urgency,
a heartbeat page listing its open incident) and must not import the incidents app.
"""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    SILENCED = "silenced", "Silenced"
    RESOLVED = "resolved", "Resolved"


# The one definition of "open" (Python and the SQL built from it).
OPEN_STATUSES = (Status.TRIGGERED, Status.ACKNOWLEDGED, Status.SILENCED)


class Urgency(models.TextChoices):
    HIGH = "high", "High"
    LOW = "low", "Low"


SUMMARY_MAX_LENGTH = 1024
DEDUP_ID_MAX_LENGTH = 255
