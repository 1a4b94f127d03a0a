"""The official `slack_sdk` WebClient, pointed at `OPSDUTY_SLACK_API_URL` (Slack itself, or
the fake Slack of `make run` and the tests). No SDK retry handler for 429: a rate-limited
call is retried by Celery after `Retry-After` (tasks.py), never by sleeping in a request."""

from __future__ import annotations

from django.conf import settings
from slack_sdk import WebClient

__all__ = ["slack_client"]

TIMEOUT_SECONDS = 10


def slack_client(token: str | None = None) -> WebClient:
    """A client for the Web API with `token` (a bot token; None for `oauth.v2.access`)."""
    return WebClient(token=token, base_url=settings.OPSDUTY_SLACK_API_URL, timeout=TIMEOUT_SECONDS)
