"""MTTA / MTTR / counts by service, escalation policy and team."""
