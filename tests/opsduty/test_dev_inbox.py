"""The development inbox: with no SMTP configured, notification mail is kept and shown to the
organization's owners at /dev/inbox/, with links to this server (OPSDUTY_PUBLIC_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from django.core.mail import EmailMessage
from django.test import Client

from opsduty.models import Organization, User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dev_inbox")]


def _send(
    to: str, subject: str, body: str = "Open the incident: http://127.0.0.1:8123/i/1/"
) -> None:
    EmailMessage(subject=subject, body=body, to=[to]).send()


def test_owners_read_the_mail_sent_to_their_people_with_working_links(
    owner: User, member: User, outsider: User, client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    _send(member.email, "[OpsDuty] #1 Disk full")
    _send(outsider.email, "[OpsDuty] #7 Other organization")
    assert "[OpsDuty] #1 Disk full" in capsys.readouterr().out  # still printed, as before
    client.force_login(owner)
    page = client.get("/dev/inbox/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "[OpsDuty] #1 Disk full" in text
    assert member.email in text
    assert '<a href="http://127.0.0.1:8123/i/1/"' in text
    assert "Other organization" not in text  # another organization's mail stays theirs


def test_members_may_not_read_it(member: User, client: Client) -> None:
    client.force_login(member)
    assert client.get("/dev/inbox/").status_code == 403


def test_off_outside_development(owner: User, client: Client, settings: Any) -> None:
    settings.OPSDUTY_DEV_INBOX = False
    client.force_login(owner)
    assert client.get("/dev/inbox/").status_code == 404


def test_the_public_url_defaults_to_the_port_the_server_runs_on() -> None:
    """`make run` on another port (OPSDUTY_WEB_PORT): mail links follow it."""
    env = {**os.environ, "OPSDUTY_WEB_PORT": "8123"}
    env.pop("OPSDUTY_PUBLIC_URL", None)
    env.pop("OPSDUTY_BASE_URL", None)
    code = "from django.conf import settings; print(settings.OPSDUTY_PUBLIC_URL)"
    done = subprocess.run(  # noqa: S603 - our own settings module
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "http://127.0.0.1:8123"


def test_notification_links_use_the_public_url(org_a: Organization, settings: Any) -> None:
    from escalations.models import Notification
    from escalations.notifications.providers.email import email_body
    from tests import factories

    settings.OPSDUTY_PUBLIC_URL = "https://opsduty.example.com"
    team = factories.make_team(organization=org_a, name="Platform")
    incident = factories.make_incident(service=factories.make_service(team=team))
    row = Notification(incident=incident, reason="")
    assert f"https://opsduty.example.com/incidents/{incident.pk}/" in email_body(row)
