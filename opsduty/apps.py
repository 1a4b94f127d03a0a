from django.apps import AppConfig


class OpsdutyConfig(AppConfig):
    name = "opsduty"
    verbose_name = "OpsDuty core"

    def ready(self) -> None:
        from django.core import checks

        from opsduty.ratelimit import rate_limits_check

        checks.register(rate_limits_check)
