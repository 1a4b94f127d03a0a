"""Slack: a fake Slack for tests and development (`fake/`); the integration itself comes next."""
