from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    name = "escalations"

    def ready(self) -> None:
        from escalations.engine import services as engine
        from escalations.notifications.services import on_incident_status_changed
        from incidents import hooks

        # Through the incidents hook (DESIGN.md: no import cycle), in the same transaction:
        # triggered starts escalation, any other state stops it; acknowledged / resolved
        # cancels pending notifications.
        hooks.subscribe(engine.on_status_change)
        hooks.subscribe(on_incident_status_changed)
