"""The webhook receiver served through Django (test client, runserver); see
signals/receiver/ingest.py."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from signals.receiver import ingest


@csrf_exempt
def webhook_receive(request: HttpRequest, webhook_key: str, routing_key: str) -> HttpResponse:
    """Accept one event (any method reaches here so that others get a JSON 405)."""
    length = request.META.get("CONTENT_LENGTH") or ""
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["remote-addr"] = request.META.get("REMOTE_ADDR", "")
    request_ = ingest.Request(
        method=request.method or "",
        webhook_key=webhook_key,
        routing_key=routing_key,
        content_type=request.content_type or "",
        content_length=int(length) if length.isdigit() else None,
        headers=headers,
    )
    answer = ingest.receive(request=request_, read=request.read)
    response = HttpResponse(answer.content(), status=answer.status, content_type="application/json")
    for name, value in answer.headers:
        response[name] = value
    return response
