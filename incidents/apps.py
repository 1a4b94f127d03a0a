from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"

    def ready(self) -> None:
        from incidents.ingest.services import IncidentSink
        from incidents.services import person_names_forget
        from opsduty.services import person_remover_register
        from signals.hooks import incident_sink_register

        # signals imports no later app: what it raises (heartbeat misses and recoveries)
        # reaches incidents through this one registered sink (signals/hooks.py).
        incident_sink_register(IncidentSink())
        # A deleted person (core) leaves timelines that name "a deleted user".
        person_remover_register(person_names_forget)
