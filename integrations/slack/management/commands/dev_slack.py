"""`manage.py dev_slack`: the fake Slack as the development Slack of `make run`.

It serves where `OPSDUTY_SLACK_API_URL` points (a loopback address set by `bin/dev run`) with
the demo workspace (#incidents, #api-alerts, #checkout and the demo people), signs its
requests with `OPSDUTY_SLACK_SIGNING_SECRET` and sends them to this server. A workspace
installed on an earlier run keeps working after a restart: its stored bot token is accepted
again. Without `OPSDUTY_DEV_SLACK` (a real Slack app) it only waits, so the Procfile's other
processes are not stopped by its exit.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.slack.fake import FakeSlack
from integrations.slack.fake.__main__ import add_demo
from integrations.slack.models import SlackWorkspace


class Command(BaseCommand):
    help = "Run the fake Slack as the development Slack (make run)."

    def handle(self, *args: Any, **options: Any) -> None:
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
        if not settings.OPSDUTY_DEV_SLACK:
            self.stderr.write("dev Slack off: OPSDUTY_DEV_SLACK is not set (a real Slack app)")
            done.wait()
            return
        where = urlsplit(settings.OPSDUTY_SLACK_API_URL)
        web_port = os.environ.get("OPSDUTY_WEB_PORT", "8000")
        fake = FakeSlack(
            signing_secret=settings.OPSDUTY_SLACK_SIGNING_SECRET,
            client_id=settings.OPSDUTY_SLACK_CLIENT_ID,
            client_secret=settings.OPSDUTY_SLACK_CLIENT_SECRET,
            app_url=f"http://127.0.0.1:{web_port}",
            host=where.hostname or "127.0.0.1",
            port=where.port or 80,
        )
        add_demo(fake)
        for workspace in SlackWorkspace.objects.all():
            if workspace.bot_token and workspace.team_id == "T0DEMO":
                fake.install("T0DEMO", token=workspace.bot_token)
        with fake:
            self.stderr.write(f"development Slack on {fake.url}/ (the demo workspace)")
            done.wait()
