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
        _audit_register()


def _audit_register() -> None:
    """The audit log (opsduty/audit.py) records policies, steps, schedules, layers,
    overrides, notification rules and calendar feeds; never runs nor notifications."""
    from escalations.notifications.models import NotificationRule
    from escalations.policies.models import EscalationPolicy, EscalationStep
    from escalations.schedules.models import CalendarFeed, Schedule, ScheduleLayer, ScheduleOverride
    from opsduty.audit import audit_register, person_label

    audit_register(EscalationPolicy, fields=["name", "team", "description"])
    audit_register(
        EscalationStep,
        fields=[
            "policy",
            "position",
            "kind",
            "repeat_times",
            "wait_minutes",
            "schedule",
            "channel",
            "events_count",
            "window_minutes",
            "time_from",
            "time_to",
            "timezone",
        ],
        m2m=["users", "teams"],
        label=lambda step: f"{step.policy.name}: {step}",
    )
    audit_register(Schedule, fields=["name", "description", "team", "timezone"])
    audit_register(
        ScheduleLayer,
        fields=[
            "schedule",
            "name",
            "priority",
            "rotation",
            "groups",
            "frequency",
            "interval",
            "by_day",
            "start_date",
            "handoff_time",
            "shift_minutes",
            "repeat_until",
            "timezone",
            "effective_from",
            "effective_until",
        ],
        label=lambda layer: f"{layer.schedule.name}: {layer.name}",
    )
    audit_register(
        ScheduleOverride,
        fields=["schedule", "user", "start", "end"],
        label=lambda o: f"{o.schedule.name}: {person_label(o.user)}",
    )
    audit_register(
        NotificationRule,
        fields=["user", "urgency", "position", "delay_minutes", "channel"],
        label=lambda rule: f"{person_label(rule.user)}: {rule}",
    )
    audit_register(
        CalendarFeed,
        fields=["user", "schedule", "token"],
        masked=["token"],
        label=lambda feed: f"calendar feed of {person_label(feed.user)}",
    )
