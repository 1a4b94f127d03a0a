from django.apps import AppConfig


class OpsdutyConfig(AppConfig):
    name = "opsduty"
    verbose_name = "OpsDuty core"
