from django.apps import AppConfig


class SignalsConfig(AppConfig):
    name = "signals"

    def ready(self) -> None:
        from opsduty.audit import audit_register
        from opsduty.services import label_renamer_register
        from signals.heartbeats.models import Heartbeat, HeartbeatState
        from signals.heartbeats.services import label_rename
        from signals.webhooks.models import Webhook

        # The audit log (opsduty/audit.py) records the configuration, never the traffic:
        # not raw events, check-ins, nor a state's deadlines and last check-in.
        audit_register(
            Webhook,
            fields=["name", "enabled", "builtin_template", "receive_channel", "key"],
            masked=["key"],
        )
        audit_register(
            Heartbeat,
            fields=["service", "name", "description", "link", "incident_urgency", "labels"],
        )
        audit_register(
            HeartbeatState,
            fields=[
                "environment",
                "type",
                "cron_expression",
                "cron_timezone",
                "interval_seconds",
                "timeout_seconds",
                "muted",
                "resolve_incident",
            ],
            label=lambda state: f"{state.heartbeat.name} ({state.environment})",
        )

        # Heartbeats keep labels by name: they follow a label's rename or deletion.
        label_renamer_register(label_rename)
