"""Services, escalation policies, schedules, notification policies, engine and outbox."""
