from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"

    def ready(self) -> None:
        from incidents.ingest.services import IncidentSink
        from incidents.selectors import organization_close_blockers
        from incidents.services import person_names_forget
        from opsduty.services import organization_close_check_register, person_remover_register
        from signals.hooks import incident_sink_register

        # signals imports no later app: what it raises (heartbeat misses and recoveries)
        # reaches incidents through this one registered sink (signals/hooks.py).
        incident_sink_register(IncidentSink())
        # A deleted person (core) leaves timelines that name "a deleted user".
        person_remover_register(person_names_forget)
        # Closing an organization (core) waits for its open incidents to be resolved.
        organization_close_check_register(organization_close_blockers)
