"""`manage.py dev_phone`: the fake Twilio as the development phone of `make run`.

It serves where `OPSDUTY_TWILIO_API_URL` points, accepts the development account and every
Twilio account stored here (so numbers bought on earlier runs keep working after a restart:
they are registered again with their SIDs and URLs), and sends its webhooks to this server.
Without `OPSDUTY_TWILIO_API_URL` (a real Twilio account) it only waits, so the Procfile's
other processes are not stopped by its exit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.twilio.devphone import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN
from integrations.twilio.fake import FakeTwilio
from integrations.twilio.models import TwilioAccount, TwilioNumber
from integrations.twilio.selectors import callback_url


class Command(BaseCommand):
    help = "Run the fake Twilio as the development phone (make run)."

    def handle(self, *args: Any, **options: Any) -> None:
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
        base = settings.OPSDUTY_TWILIO_API_URL
        if not base:
            self.stderr.write("dev phone off: OPSDUTY_TWILIO_API_URL is empty (real Twilio)")
            done.wait()
            return
        where = urlsplit(base)
        fake = FakeTwilio(where.hostname or "127.0.0.1", where.port or 80)
        fake.add_account(DEV_ACCOUNT_SID, DEV_AUTH_TOKEN, "Development phone")
        for account in TwilioAccount.objects.all():
            if account.auth_token:
                fake.add_account(account.account_sid, account.auth_token)
        for number in TwilioNumber.objects.select_related("account"):
            if number.account.account_sid in fake.accounts:
                fake.buy_number(
                    number.account.account_sid,
                    number.phone_number,
                    sid=number.sid,
                    voice_url=callback_url(number.account, "twilio_voice_inbound"),
                    sms_url=callback_url(number.account, "twilio_sms_inbound"),
                )
        web = f"http://127.0.0.1:{os.environ.get('OPSDUTY_WEB_PORT', '8000')}"
        if web != settings.OPSDUTY_PUBLIC_URL:
            fake.forward(settings.OPSDUTY_PUBLIC_URL, web)
        with fake:
            print(f"development phone (fake Twilio) on {fake.url}", file=sys.stderr, flush=True)
            done.wait()
