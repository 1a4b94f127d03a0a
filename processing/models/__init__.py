"""Models of event processing (one module per area; each is imported here explicitly)."""

from processing.models.routing import (
    AutoResolve,
    Escalate,
    EventOrchestration,
    OrchestrationUrgency,
    Route,
    RoutingRule,
)

__all__ = [
    "AutoResolve",
    "Escalate",
    "EventOrchestration",
    "OrchestrationUrgency",
    "Route",
    "RoutingRule",
]
