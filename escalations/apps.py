from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    name = "escalations"

    def ready(self) -> None:
        from escalations.notifications import on_incident_status_changed
        from incidents import hooks

        # Acknowledged / resolved cancels pending notifications (same transaction).
        hooks.subscribe(on_incident_status_changed)
