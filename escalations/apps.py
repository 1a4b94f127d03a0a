from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    name = "escalations"

    def ready(self) -> None:
        # The engine follows incidents through their one hook (DESIGN.md: no import cycle).
        from escalations import engine
        from incidents import hooks

        hooks.subscribe(engine.on_status_change)
