"""Plain-language descriptions of escalation steps ("Notify Alice and team Platform by SMS")."""

from __future__ import annotations

from escalations.models import EscalationStep, StepKind

CHANNEL_PHRASES = {
    "email": "by email",
    "sms": "by SMS",
    "voice": "by voice call",
    "slack": "on Slack",
}


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _minutes(count: int | None) -> str:
    return "1 minute" if count == 1 else f"{count} minutes"


def step_targets(step: EscalationStep) -> str:
    """Who a notify step pages, e.g. "Alice and team Platform" (users, teams prefetched)."""
    names = [user.get_short_name() for user in step.users.all()]
    names += [f"team {team.name}" for team in step.teams.all()]
    if step.schedule is not None:
        names.append(f"whoever is on call in schedule “{step.schedule.name}”")
    return _join(names) or "nobody"


def _notify(step: EscalationStep) -> str:
    text = f"Notify {step_targets(step)}"
    channel = CHANNEL_PHRASES.get(step.channel)
    return f"{text} {channel}" if channel else text


def _repeat(times: int | None) -> str:
    if times == 1:
        return "Repeat from step 1 (once)"
    return f"Repeat from step 1 (up to {times} times)"


def step_describe(step: EscalationStep) -> str:
    """One sentence saying what the step does."""
    if step.kind == StepKind.NOTIFY:
        return _notify(step)
    if step.kind == StepKind.NOTIFY_IF_EVENTS:
        events = "1 event" if step.events_count == 1 else f"{step.events_count} events"
        return (
            f"{_notify(step)} if the incident has {events} or more "
            f"within {_minutes(step.window_minutes)}"
        )
    if step.kind == StepKind.NOTIFY_IF_TIME:
        start = f"{step.time_from:%H:%M}" if step.time_from else "?"
        end = f"{step.time_to:%H:%M}" if step.time_to else "?"
        return (
            f"{_notify(step)} between {start} and {end} ({step.timezone}); "
            f"outside that window, pause until {start}"
        )
    if step.kind == StepKind.REPEAT:
        return _repeat(step.repeat_times)
    if step.kind == StepKind.RESOLVE:
        return "Resolve the incident"
    return f"Wait {_minutes(step.wait_minutes)}"
