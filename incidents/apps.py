from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"

    def ready(self) -> None:
        from incidents.ingest.services import IncidentSink
        from signals.hooks import incident_sink_register

        # signals imports no later app: what it raises (heartbeat misses and recoveries)
        # reaches incidents through this one registered sink (signals/hooks.py).
        incident_sink_register(IncidentSink())
