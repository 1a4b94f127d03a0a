"""The routing-key namespace: which tables own routing keys, the order a key is looked up in,
and one owner per key across all of them.

Services and routing rules share one URL segment (`.../<webhook key>/<routing key>`), so a
key must name exactly one of them. The owners, in lookup order: a service, then a routing
rule. The core imports no app: processing's model is reached through the app registry by
name. Keys are random (192 bits) except fixed demo keys (seed_demo), which are checked here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import Model

from opsduty.models import new_routing_key

# (app label, model name), in lookup order.
OWNERS = (("opsduty", "Service"), ("processing", "RoutingRule"))
TAKEN = "This routing key is taken (by a service or a routing rule)."


def routing_key_owners() -> list[type[Model]]:
    """The models whose rows own routing keys, in lookup order."""
    return [apps.get_model(app_label, name) for app_label, name in OWNERS]


@cache
def routing_key_known_sql() -> str:
    """SQL answering whether an organization has an owner of a key (parameters from
    `routing_key_known_params`); the webhook receiver runs it on every cache miss."""
    selects = " UNION ALL ".join(
        f"SELECT 1 FROM {model._meta.db_table} WHERE organization_id = %s AND routing_key = %s"  # noqa: S608 - our table names, values bound
        for model in routing_key_owners()
    )
    return "SELECT EXISTS (" + selects + ")"


def routing_key_known_params(organization_id: int, routing_key: str) -> list[Any]:
    return [organization_id, routing_key] * len(OWNERS)


def routing_key_taken(routing_key: str, *, excluding: Model | None = None) -> bool:
    """Whether any owner (of any organization: keys are unique) holds `routing_key`."""
    for model in routing_key_owners():
        rows = model._default_manager.filter(routing_key=routing_key)
        if excluding is not None and isinstance(excluding, model):
            rows = rows.exclude(pk=excluding.pk)
        if rows.exists():
            return True
    return False


def routing_key_new() -> str:
    """A fresh random key that no service and no routing rule holds."""
    while True:
        key = new_routing_key()
        if not routing_key_taken(key):
            return key


def routing_key_check_free(routing_key: str, *, excluding: Model | None = None) -> None:
    """Refuse a chosen key that another service or routing rule holds."""
    if routing_key_taken(routing_key, excluding=excluding):
        raise ValidationError({"routing_key": TAKEN})
