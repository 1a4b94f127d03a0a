from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    name = "escalations"

    def ready(self) -> None:
        from escalations.diagnostics.selectors import user_duty_list
        from escalations.engine import opening
        from escalations.engine import services as engine
        from escalations.engine.views import escalation_state, paging_choices
        from escalations.notifications import views as notification_views
        from escalations.notifications.services import (
            on_incident_status_changed,
            person_data_remove,
        )
        from escalations.schedules import views as schedule_views
        from incidents import hooks
        from incidents.views.detail import detail_section_register
        from opsduty.services import duty_finder_register, person_remover_register
        from opsduty.views.profile import profile_section_register

        # Through the incidents hook (no import cycle), in the same transaction: a new
        # incident starts escalation under its opening event's directives; triggered again
        # restarts it, any other state stops it; acknowledged / resolved cancels pending
        # notifications.
        hooks.subscribe(opening.on_incident_opened)
        hooks.subscribe(engine.on_status_change)
        hooks.subscribe(on_incident_status_changed)
        # The profile (core) lists our sections, each a page of ours: a person's notification
        # rules, then their shifts and calendar feed.
        profile_section_register(notification_views.PROFILE_SECTION)
        profile_section_register(schedule_views.PROFILE_SECTION)
        # The incident page (incidents) offers escalating, paging and reassigning (ours), and
        # shows everyone where escalation stands.
        detail_section_register(paging_choices)
        detail_section_register(escalation_state, actors_only=False)
        # Before a person is deactivated or deleted (core), the warning lists their duties
        # here; a deletion removes their notification rules and calendar feeds.
        duty_finder_register(user_duty_list)
        person_remover_register(person_data_remove)
