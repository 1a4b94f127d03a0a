from django.apps import AppConfig


class ProcessingConfig(AppConfig):
    name = "processing"

    def ready(self) -> None:
        from opsduty.audit import audit_register
        from opsduty.warmup import main_warm_up_register
        from processing.channels.builtin_templates import builtin_templates_compile
        from processing.channels.models import ReceiveChannel
        from processing.routing.models import EventOrchestration, Route, RoutingRule

        # Workers compile the built-in templates before they fork (opsduty/warmup.py).
        main_warm_up_register(builtin_templates_compile)
        # The audit log (opsduty/audit.py) records channels, rules, routes, orchestrations.
        templates = [f.name for f in ReceiveChannel._meta.fields if f.name.endswith("_template")]
        audit_register(ReceiveChannel, fields=["name", "description", *templates])
        audit_register(
            RoutingRule,
            fields=["name", "team", "default_service", "routing_key"],
            masked=["routing_key"],
        )
        audit_register(
            Route,
            fields=["routing_rule", "position", "enabled", "name", "description", "service"]
            + ["conditions"],
            label=lambda route: f"{route.routing_rule.name}: {route}",
        )
        audit_register(
            EventOrchestration,
            fields=[
                f.name
                for f in EventOrchestration._meta.fields
                if f.name not in ("id", "organization", "created_at")
            ],
        )
