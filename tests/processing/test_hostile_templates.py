"""Server-side template injection and resource exhaustion against the receive-channel sandbox,
through the paths a user takes: the API debugger, the debugger page, and a real event.

Each payload of the corpus is either refused with a reason the user sees (the debugger's
error for the field, a form error when saving) or renders something inert; none answers a
5xx, none hangs (each refusal happens within the sandbox's time, size and count limits) and
none shows a secret or a setting.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from incidents.ingest import drain
from incidents.models import Incident
from opsduty.models import Organization, Service
from processing.channels.rendering import FALLBACK_SUMMARY
from processing.models import ReceiveChannel
from signals.models import RawEvent, RawEventStatus
from tests import factories
from tests.signals.conftest import url

pytestmark = pytest.mark.django_db

API = "/api/v1/receive-channels/debug/"
PAYLOAD = {"title": "Disk full", "text": "a" * 5000 + "!", "pattern": "(a+)+$"}

# (template, what the user is told, as a regular expression). Known Jinja2 SSTI payloads and
# the ways to make one render take unbounded time or memory.
REFUSED = [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "unsafe"),
    ("{{ joiner.__init__.__globals__ }}", "unsafe"),
    ("{{ (1, 2).__class__.__base__.__subclasses__() }}", "unsafe"),
    ("{{ dict.mro() }}", "unsafe"),
    ("{{ json_dumps.__globals__['json'] }}", "unsafe"),
    ("{{ [].append(1) }}", "unsafe"),
    ("{{ {}.update(a=1) }}", "unsafe"),
    ("{{ config.items() }}", "undefined"),
    ("{% for x in range(99999999) %}{{ x }}{% endfor %}", "range\\(\\) is limited to 10000"),
    ("{{ 'a' * 10**9 }}", "longer than 1000000"),
    ("{{ 9 ** (9 ** 9) }}", "Exponents over 1000"),
    ("{{ ('9' * 4000) | int ** 1000 }}", "bits was refused"),
    ("{{ (2 ** 1000) ** 1000 }}", "bits was refused"),
    ("{{ 99999999999 ** 1000 }}", "4300 digits"),
    ("{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}", "recursion too deep|took longer"),
    ("{% macro m(s) %}{{ m(s ~ s) }}{% endmacro %}{{ m('a') }}", "longer than 1000000"),
    ("{{ '{:>999999999}'.format(1) }}", "format width over 100000"),
    ("{{ '{0:{1}}'.format('x', 999999999) }}", "format width over 100000"),
    ("{{ '{a:>999999999}'.format_map({'a': 1}) }}", "format width over 100000"),
    ("{{ '%0999999d' % 1 }}", "format width over 100000"),
    ("{{ '%s' | format('x') | center(999999999) }}", "width over 100000"),
    ("{{ 'x'.ljust(999999999) }}", "width over 100000"),
    ("{{ 'x'.zfill(10 ** 9) }}", "width over 100000"),
    ("{{ ('\t' * 99999).expandtabs(99999) }}", "width over 100000"),
    ("{{ ('x' * 999999).replace('x', 'y' * 999999) }}", "longer than 1000000"),
    ("{{ ('y' * 999999).join(['a'] * 9999) }}", "longer than 1000000"),
    ("{{ ('a' * 2000) | list | join('b' * 999) }}", "longer than 1000000"),
    ("{{ ('y' * 999999).join(range(10000) | map('string')) }}", "longer than 1000000"),
    ("{{ 'ab'.replace('', 'x' * 999999) }}", "longer than 1000000"),
    ("{{ 'x'.encode().center(999999999) }}", "width over 100000"),
    ("{{ ('x' * 999999).encode().replace('x'.encode(), ('y' * 999999).encode()) }}", "longer"),
    ("{{ range(10) | batch(999999999999, 'x') | list }}", "count over 10000"),
    ("{{ range(10) | slice(999999999) | list }}", "count over 10000"),
    ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "took"),
    (
        "{% for i in range(9999) %}{% for j in range(9999) %}{{ j }}{% endfor %}{% endfor %}",
        "output",
    ),
    ("{{ [1] * 40000 }}", "output is over 100000"),
    ("{{ 'x' * 999999 ~ 'x' * 999999 }}", "output is over 100000"),
    ("{{ payload.text | regex_search(payload.pattern) }}", "took longer"),
    ("{% include 'x' %}", "Template error"),
    ("{% extends 'base.html' %}", "Template error"),
]
# Inert: render to nothing dangerous (an empty undefined, a harmless repr, a number).
INERT = [
    "{{ config }}",
    "{{ settings }}",
    "{{ request }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__dict__ }}",
    "{{ lipsum }}",
    "{{ url_for }}",
    "{{ payload.__class__ }}",
    "{{ range.__globals__ }}",
    "{{ time.__globals__ }}",
    "{{ '' | attr('__class__') | attr('__mro__') }}",
    "{{ (9**9**9) }}",
]
# Refused when saved: a literal catastrophic pattern (it would be cut off when run, too).
REFUSED_WHEN_SAVED = [
    ("{{ payload.text | regex_search('(a+)+$') }}", "repeats a repeat"),
    ("{{ regex_match(payload.text, '(\\\\w+\\\\s?)*$') }}", "repeats a repeat"),
    ("{{ payload.text | regex_replace('(.*)*x', '') }}", "repeats a repeat"),
    ("{{ payload.title", "syntax error"),
]


def _secrets() -> list[str]:
    password = str(settings.DATABASES["default"].get("PASSWORD") or "")
    return [s for s in (settings.SECRET_KEY, password) if len(s) >= 8]


def _assert_nothing_leaked(text: str) -> None:
    for secret in _secrets():
        assert secret not in text
    for marker in ("<class '", "<module '", "uid=", "SECRET_KEY", "DATABASES", "<frame"):
        assert marker not in text, marker


def _debug(client: Client, template: str) -> tuple[int, Any, str]:
    body = {"template": "generic", "templates": {"summary": template}, "payload": PAYLOAD}
    response = client.post(API, json.dumps(body), content_type="application/json")
    text = response.content.decode()
    return response.status_code, json.loads(text), text


@pytest.mark.parametrize(("template", "reason"), REFUSED, ids=[t for t, _ in REFUSED])
def test_api_debugger_refuses_with_the_reason(
    owner_api: Client, template: str, reason: str
) -> None:
    status, body, text = _debug(owner_api, template)
    assert status == 200, text
    assert re.search(reason, body["errors"]["summary"])
    # The event still gets a summary: the fallback, not the hostile output.
    assert body["event"]["summary"].startswith(FALLBACK_SUMMARY)
    _assert_nothing_leaked(text)


@pytest.mark.parametrize("template", INERT)
def test_api_debugger_renders_inert_payloads_harmlessly(owner_api: Client, template: str) -> None:
    status, body, text = _debug(owner_api, template)
    assert status == 200, text
    assert "summary" not in body["errors"]
    _assert_nothing_leaked(text)


@pytest.mark.parametrize(("template", "reason"), REFUSED_WHEN_SAVED)
def test_api_debugger_refuses_uncheckable_templates_with_422(
    owner_api: Client, template: str, reason: str
) -> None:
    status, body, text = _debug(owner_api, template)
    assert status == 422, text
    assert reason in text
    _assert_nothing_leaked(text)


# One case of each kind of refusal for the debugger page (the API test runs them all).
PAGE_REASONS = ("unsafe", "range", "format width", "count over", "took", "output")
PAGE_CASES = [next(c for c in REFUSED if c[1].startswith(r)) for r in PAGE_REASONS]


def _channel(org: Organization, template: str) -> ReceiveChannel:
    return factories.make_receive_channel(
        organization=org, base_template="generic", overrides={"summary": template}
    )


@pytest.mark.parametrize(
    ("template", "reason"),
    PAGE_CASES,
)
def test_debugger_page_shows_the_reason(
    owner_client: Client, org_a: Organization, template: str, reason: str
) -> None:
    channel = _channel(org_a, template)
    response = owner_client.post(
        f"/receive-channels/{channel.pk}/debug/", {"payload": json.dumps(PAYLOAD)}
    )
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert re.search(reason, page)
    _assert_nothing_leaked(page)


@pytest.mark.parametrize(("template", "reason"), REFUSED_WHEN_SAVED[:2])
def test_saving_a_catastrophic_pattern_is_refused_on_the_form(
    owner_client: Client, org_a: Organization, template: str, reason: str
) -> None:
    response = owner_client.post(
        "/receive-channels/new/",
        {"name": "Hostile", "base_template": "generic", "summary_template": template},
    )
    assert response.status_code in (200, 422)
    assert reason in html.unescape(response.content.decode())
    assert not ReceiveChannel.objects.filter(name="Hostile").exists()


def test_hostile_templates_never_lose_the_event(
    client: Client, org_a: Organization, owner_client: Client
) -> None:
    """A real event through a channel whose every field is hostile: it still becomes an
    incident (fallback summary), the reasons are on the raw event page, and an ordinary event
    sent after it is processed as usual."""
    service: Service = factories.make_service(organization=org_a, name="API")
    channel = factories.make_receive_channel(
        organization=org_a,
        base_template="generic",
        overrides={
            "summary": "{{ '{:>999999999}'.format(1) }}",
            "description": "{{ payload.text | regex_search(payload.pattern) }}",
            "dedup_id": "{% for i in range(10000) %}{% for j in range(10000) %}"
            "{% endfor %}{% endfor %}",
            "labels": "{{ range(10) | batch(999999999999, 'x') | list }}",
        },
    )
    webhook = factories.make_webhook(organization=org_a, receive_channel=channel)
    hostile = client.post(
        url(webhook, service.routing_key), json.dumps(PAYLOAD), content_type="application/json"
    )
    assert hostile.status_code == 202
    plain = factories.make_webhook(organization=org_a)
    ordinary = client.post(
        url(plain, service.routing_key),
        json.dumps({"title": "CPU high", "dedup_id": "cpu"}),
        content_type="application/json",
    )
    assert ordinary.status_code == 202
    assert drain.raw_events_drain(linger=0) == 2

    raw = RawEvent.objects.get(webhook=webhook)
    assert raw.status == RawEventStatus.PROCESSED, raw.error
    errors = raw.result["channel"]["errors"]
    assert "format width" in errors["summary"]
    assert "took longer" in errors["description"]
    summaries = set(Incident.objects.values_list("summary", flat=True))
    assert "CPU high" in summaries
    assert any(s.startswith(FALLBACK_SUMMARY) for s in summaries)
    page = html.unescape(owner_client.get(f"/raw-events/{raw.pk}/").content.decode())
    assert "format width over 100000" in page
    _assert_nothing_leaked(page)


# Pieces of templates, SSTI payloads and size bombs, for hypothesis to put together.
PIECES = ["{{ ", " }}", "{% ", " %}", "for x in range(", ") %}", "{% endfor %}", "payload",
          "payload.text", ".", "__class__", "__globals__", "mro()", " * ", " ** ", "9", "99999",
          "10**9", "'a'", "'{:>99999999}'", ".format(1)", ".ljust(999999999)", " | join(",
          " | batch(", " | slice(", " | list", " | format(", " ~ ", "[", "]", "(", ")", ",",
          "'%0999999d' % 1", "self", "config", "cycler", "range", "time()", "{% macro m(s) %}",
          "{% endmacro %}", "m(s ~ s)", "m('a')", " | regex_search(payload.pattern)", "x",
          "{% if x %}", "{% endif %}", "{% set y = ", "'x' * 999999", "[1] * 1000000"]  # fmt: skip


def test_fuzzed_templates_never_5xx_or_leak(owner_api: Client) -> None:
    @hypothesis_settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=12).map("".join))
    def debug(template: str) -> None:
        status, body, text = _debug(owner_api, template)
        assert status in (200, 422), text
        if status == 422:
            assert body["detail"], text
        _assert_nothing_leaked(text)

    debug()


# --- hostile payloads for the debugger ------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("payload_json", "reason"),
    [
        ('{"a": ' + DEEP + "}", "nest over 128 levels"),  # was a 500 (RecursionError)
        ('{"a": ' + "[" * 200 + "]" * 200 + "}", "nest over 128 levels"),
        ('{"a": "\\ud800"}', "lone surrogate"),  # was a 500 (the answer could not be encoded)
        ('{"a": "x\\u0000"}', "U\\+0000"),
    ],
)
def test_api_refuses_unusable_json_with_422(
    owner_api: Client, payload_json: str, reason: str
) -> None:
    body = '{"template": "generic", "payload": ' + payload_json + "}"
    response = owner_api.post(API, body, content_type="application/json")
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert re.search(reason, error["msg"])


@pytest.mark.parametrize(
    ("payload_json", "reason"),
    [
        (DEEP, "nested too deeply"),
        ('{"a": ' + "[" * 200 + "]" * 200 + "}", "over 128 levels"),
        ('{"a": "\\ud800"}', "lone surrogate"),  # was a 500 (the page could not be encoded)
    ],
)
def test_debugger_page_refuses_unusable_payloads(
    owner_client: Client, org_a: Organization, payload_json: str, reason: str
) -> None:
    response = owner_client.post("/receive-channels/debug/", {"payload": payload_json})
    assert response.status_code == 422
    assert reason in html.unescape(response.content.decode())
