"""WSGI entry point (gunicorn opsduty.wsgi).

Webhook POSTs (the hottest path) go straight to `signals.receiver.ingest.wsgi_app`, skipping the
Django middleware stack that serves the UI and the API; everything else goes to Django.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
django_application = get_wsgi_application()

from opsduty.queue import tasks_import  # noqa: E402
from opsduty.warmup import web_warm_up  # noqa: E402
from signals.receiver import ingest  # noqa: E402 - needs the Django set-up above

# The first event queues its drain without importing the tasks modules first.
tasks_import()
# Start-up's objects out of the garbage collector's way (opsduty/warmup.py).
web_warm_up()


def application(environ, start_response):  # type: ignore[no-untyped-def]
    if environ.get("PATH_INFO", "").startswith(ingest.PREFIX):
        return ingest.wsgi_app(environ, start_response)
    return django_application(environ, start_response)
