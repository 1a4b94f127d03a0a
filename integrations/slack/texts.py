"""Words that several Slack answers share."""

from __future__ import annotations

NOT_LINKED = (
    "Your Slack account is not linked to an OpsDuty account yet. Type `/opsduty account link` "
    "and open the link it gives you, signed in to OpsDuty."
)
STAKEHOLDER = "Stakeholders follow incidents but cannot act on them."
