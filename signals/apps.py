from django.apps import AppConfig


class SignalsConfig(AppConfig):
    name = "signals"

    def ready(self) -> None:
        from opsduty.services import label_renamer_register
        from signals.heartbeats.services import label_rename

        label_renamer_register(label_rename)
