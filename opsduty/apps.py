from django.apps import AppConfig


class OpsdutyConfig(AppConfig):
    name = "opsduty"
    verbose_name = "OpsDuty core"

    def ready(self) -> None:
        from django.core import checks
        from django.db.backends.signals import connection_created

        from opsduty.audit import core_models_register
        from opsduty.ratelimit import rate_limits_check
        from opsduty.rawsql import prepare_listed_on

        checks.register(rate_limits_check)
        connection_created.connect(prepare_listed_on, dispatch_uid="opsduty.prepare_listed")
        # The audit log records the core's configuration; the apps register theirs.
        core_models_register()
