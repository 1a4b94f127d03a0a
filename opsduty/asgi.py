"""ASGI entry point (uvicorn opsduty.asgi:application), what `make run` serves.

Webhook POSTs (the hottest path) go to `signals.receiver.ingest_async.app` on the event loop, and so
do heartbeat check-ins (`signals.heartbeats.checkin_async`, which hands the rare cases on), the
cached public status page (`statuspages.public.fast`, which hands everything else on) and
the live-update stream (`incidents.live.stream`: server-sent events, one coroutine per open tab);
everything else is Django as a WSGI application in a thread pool (a2wsgi), so views,
middleware and database connections behave exactly as under a threaded WSGI server. Request
bodies are read on the event loop first, within `OPSDUTY_REQUEST_BODY_SECONDS` and 2.5 MB
(`opsduty.request_body`).
"""

import os
from typing import Any

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
django_application = WSGIMiddleware(get_wsgi_application(), workers=8)  # type: ignore[arg-type]

# Below the Django set-up above, which they need.
from incidents import live  # noqa: E402
from incidents.live import stream as live_stream  # noqa: E402
from opsduty.queue import tasks_import  # noqa: E402
from opsduty.request_body import bounded_body  # noqa: E402
from opsduty.warmup import web_warm_up  # noqa: E402
from signals.heartbeats import checkin_async as heartbeat_checkin_async  # noqa: E402
from signals.receiver import (  # noqa: E402
    ingest,
    ingest_async,
)
from statuspages.public import fast as status_page_fast  # noqa: E402

# The first event queues its drain without importing the tasks modules first.
tasks_import()
# Start-up's objects out of the garbage collector's way (opsduty/warmup.py).
web_warm_up()


async def _application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        path = scope["path"]
        if path.startswith(ingest.PREFIX):
            await ingest_async.app(scope, receive, send)
            return
        if path == live.PATH:
            await live_stream.app(scope, receive, send)
            return
        # Heartbeat check-ins: the common case on the event loop, the rest through Django.
        if path.startswith(heartbeat_checkin_async.PREFIX) and await heartbeat_checkin_async.handle(
            scope, receive, send
        ):
            return
        # The cached public status page: the common case on the event loop, the rest Django.
        if path.startswith(status_page_fast.PREFIX) and await status_page_fast.handle(
            scope, receive, send
        ):
            return
    await django_application(scope, receive, send)  # type: ignore[arg-type]


# Every request body is read on the event loop first, within a deadline and a size limit
# (opsduty/request_body.py), so no slow sender holds one of a2wsgi's threads.
application = bounded_body(_application)
