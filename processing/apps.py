from django.apps import AppConfig


class ProcessingConfig(AppConfig):
    name = "processing"

    def ready(self) -> None:
        from opsduty.warmup import main_warm_up_register
        from processing.channels.builtin_templates import builtin_templates_compile

        # Workers compile the built-in templates before they fork (opsduty/warmup.py).
        main_warm_up_register(builtin_templates_compile)
