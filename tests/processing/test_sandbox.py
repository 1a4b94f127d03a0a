"""The Jinja2 sandbox: functions, escapes refused, time and size bounds."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import time_machine

from processing.sandbox import environment as sandbox
from processing.sandbox import regexes
from processing.sandbox.environment import SandboxError, render

PAYLOAD = {
    "labels": {"alertname": "DiskFull", "severity": "critical"},
    "startsAt": "2024-05-15T08:00:00Z",
    "items": list(range(2000)),
    "text": "a" * 40,
}


def _render(source: str) -> str:
    return render(source, {"payload": PAYLOAD})


def test_a_payload_key_named_like_a_dict_method_is_the_method_as_in_jinja() -> None:
    """A payload's keys are read as attributes (`p.title`); a dict's own attribute of that
    name comes first, as in Jinja: `p.items` is the method, `p['items']` the key."""
    payload = {"title": "Disk full", "items": [1, 2], "keys": "k"}
    source = (
        "{{ payload.title }}|{{ payload.items is callable }}|{{ payload['items'] | length }}"
        "|{{ payload.keys is callable }}|{{ payload.missing }}|{{ payload.missing is defined }}"
    )
    assert render(source, {"payload": payload}) == "Disk full|True|2|True||False"


def test_payload_fields_render() -> None:
    assert _render("{{ payload.labels.alertname }} ({{ payload.labels.severity }})") == (
        "DiskFull (critical)"
    )


def test_time_functions() -> None:
    assert _render(
        "{{ payload.startsAt | iso8601_to_time | datetime_format('%Y-%m-%d %H:%M') }}"
    ) == ("2024-05-15 08:00")
    assert _render("{{ datetime_format(1715760000, '%Y') }}") == "2024"
    with time_machine.travel(datetime(2030, 1, 2, tzinfo=UTC), tick=False):
        assert _render("{{ time().year }}") == "2030"
    assert _render("{{ 'not a date' | iso8601_to_time }}") == "None"


def test_json_functions() -> None:
    assert _render("{{ payload.labels | json_dumps }}") == (
        '{"alertname": "DiskFull", "severity": "critical"}'
    )
    assert _render("{{ payload.labels | tojson_pretty }}") == (
        '{\n    "alertname": "DiskFull",\n    "severity": "critical"\n}'
    )


def test_regex_functions() -> None:
    assert _render("{{ payload.labels.alertname | regex_replace('[A-Z]', '_') }}") == "_isk_ull"
    assert _render("{{ payload.labels.alertname | regex_match('Disk') }}") == "True"
    assert _render("{{ payload.labels.alertname | regex_match('Full') }}") == "False"
    assert _render("{{ payload.labels.alertname | regex_search('Full') }}") == "True"
    with pytest.raises(SandboxError, match="Invalid regular expression"):
        _render("{{ 'x' | regex_search('(') }}")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ payload.__class__.__base__.__subclasses__() }}",
        "{{ payload.items.__class__.__subclasses__() }}",
        "{{ time.__globals__['os'] }}",
        "{{ payload.labels.update({'x': 1}) }}",
        "{{ payload.items.append(1) }}",
        "{{ (payload.labels.items() | list)[0].__class__.__subclasses__() }}",
    ],
)
def test_escapes_are_refused(source: str) -> None:
    with pytest.raises(SandboxError, match="sandbox|unsafe|undefined|no attribute"):
        _render(source)


def test_dunder_attributes_render_as_nothing() -> None:
    assert _render("{{ ''.__class__ }}{{ payload.__dict__ }}") == ""


def test_namespace_is_not_available() -> None:
    """Without namespace() nothing can grow across loop iterations."""
    with pytest.raises(SandboxError):
        _render("{% set ns = namespace(x='a') %}{{ ns.x }}")


def test_a_huge_range_is_refused() -> None:
    with pytest.raises(SandboxError, match="range"):
        _render("{% for i in range(100000000) %}{% endfor %}")


def test_nested_loops_without_calls_are_stopped_by_the_time_limit() -> None:
    source = (
        "{% set xs = payload['items'] %}"
        "{% for a in xs %}{% for b in xs %}{% for c in xs %}{% endfor %}{% endfor %}{% endfor %}"
    )
    with pytest.raises(SandboxError, match="took longer"):
        _render(source)
    # The thread is usable afterwards: no interrupt is left pending.
    assert _render("{{ 1 + 1 }}") == "2"


def test_the_time_limit_works_in_any_thread() -> None:
    errors: list[str] = []

    def run() -> None:
        try:
            render("{% for a in x %}{% for b in x %}{% endfor %}{% endfor %}", {"x": range(10**5)})
        except SandboxError as error:
            errors.append(str(error))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors and "took longer" in errors[0]


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a' * 100000000 }}",
        "{{ ['a'] * 100000000 }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '%0999999999d' | format(1) }}",
        "{{ 'x' | center(1000000000) }}",
        "{{ 9 ** 99999999 }}",
        "{{ payload.text | replace('a', payload.text * 1000) }}",
        "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s | length }}"
        "{% endif %}{% endmacro %}{{ f('ab', 40) }}",
    ],
)
def test_huge_values_are_refused(source: str) -> None:
    with pytest.raises(SandboxError, match="refused|over"):
        _render(source)


def test_huge_output_is_cut_off() -> None:
    with pytest.raises(SandboxError, match="output is over"):
        _render("{% for a in payload['items'] %}{{ payload.text * 10 }}{% endfor %}")


def test_syntax_and_runtime_errors_say_what_went_wrong() -> None:
    with pytest.raises(SandboxError, match="syntax error"):
        _render("{% if %}")
    with pytest.raises(SandboxError, match="ZeroDivisionError"):
        _render("{{ 1 / 0 }}")
    with pytest.raises(SandboxError, match="at most"):
        _render("x" * (sandbox.MAX_SOURCE + 1))


def test_catastrophic_regex_is_bounded() -> None:
    with pytest.raises(regexes.RegexTimeoutError):
        regexes.regex_search(r"^(a|a)*$", "a" * 40 + "b")


@pytest.mark.parametrize(
    ("text", "truthy"),
    [("yes", True), (" TRUE ", True), ("on", True), ("1", True), ("ok", True), ("y", True)]
    + [("no", False), ("", False), ("0", False), ("false", False), ("okay", False)],
)
def test_truthy_strings(text: str, truthy: bool) -> None:
    assert sandbox.is_truthy(text) is truthy


def test_catastrophic_regex_in_a_template_is_an_error() -> None:
    with pytest.raises(SandboxError, match="took longer"):
        render("{{ payload | regex_search('^(a|a)*$') }}", {"payload": "a" * 40 + "b"})


def test_width_filters_keep_their_environment_and_defaults() -> None:
    # truncate and wordwrap take the environment first: the size guard must pass it on.
    assert _render("{{ 'abcdefghij' | truncate(5, True, '', 0) }}") == "abcde"
    assert _render("{{ ('a' * 300) | truncate }}") == "a" * 252 + "..."
    assert _render("{{ 'aa bb' | wordwrap(2) }}") == "aa\nbb"
    assert _render("{{ 'x' | center(5) }}") == "  x  "
    with pytest.raises(SandboxError, match="width over"):
        _render("{{ 'x' | truncate(length=10000000) }}")
    with pytest.raises(SandboxError, match="width over"):
        _render("{{ 'x' | center(10000000) }}")
