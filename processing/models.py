"""Models of event processing, one module per subject; this package only re-exports them."""

from processing.channels.models import OVERRIDE_FIELDS, BaseTemplate, ReceiveChannel
from processing.routing.models import (
    AutoResolve,
    Escalate,
    EventOrchestration,
    OrchestrationUrgency,
    Route,
    RoutingRule,
)

__all__ = [
    "OVERRIDE_FIELDS",
    "AutoResolve",
    "BaseTemplate",
    "Escalate",
    "EventOrchestration",
    "OrchestrationUrgency",
    "ReceiveChannel",
    "Route",
    "RoutingRule",
]
