from __future__ import annotations

from django.apps import AppConfig


class StatusPagesConfig(AppConfig):
    name = "statuspages"
    verbose_name = "Status pages"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from incidents.views.detail import detail_section_register
        from opsduty.devmail import inbox_addresses_register
        from statuspages.events import announcement_register
        from statuspages.selectors import subscriber_addresses
        from statuspages.subscribers.services import announcement_mail
        from statuspages.views.incident import tell_customers_section

        # The incident page (incidents) offers "Tell customers" (ours) to people who manage a
        # status page, on every incident they can see (open or resolved).
        detail_section_register(tell_customers_section, actors_only=False)
        _audit_register()
        # Subscribers are mailed about what the page announces (statuspages/subscribers/).
        announcement_register(announcement_mail)
        # Under `make run` their mail shows in the owners' development inbox, confirmation
        # links included (opsduty/devmail.py).
        inbox_addresses_register(subscriber_addresses)


def _audit_register() -> None:
    """The audit log (opsduty/audit.py) records the pages' configuration: pages (the visitor
    token secret hidden), component groups and components; not notices, updates or periods."""
    from opsduty.audit import audit_register
    from statuspages.models import Component, ComponentGroup, StatusPage

    audit_register(
        StatusPage,
        fields=[
            "team",
            "name",
            "slug",
            "domain",
            "description",
            "enabled",
            "calculate_uptime",
            "access_mode",
            "access_secret",
        ],
        masked=["access_secret"],
    )
    audit_register(
        ComponentGroup,
        fields=["status_page", "name", "description", "order"],
        label=lambda group: f"{group.status_page.name}: {group.name}",
    )
    audit_register(
        Component,
        fields=["group", "name", "description", "position", "manual_status"],
        m2m=["services"],
        label=lambda component: f"{component.status_page.name}: {component.name}",
    )
