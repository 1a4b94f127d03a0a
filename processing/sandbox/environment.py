"""The one Jinja2 sandbox every user template renders in (receive channels, conditions).

Bounds, because templates and payloads are both untrusted:
- `ImmutableSandboxedEnvironment`: no dunder attributes, no unsafe callables, no mutation
  of lists or dicts (so nothing can grow across loop iterations); `namespace` is removed.
- Time: a watchdog thread raises `_Deadline` inside the rendering thread when a render runs
  past its limit (`PyThreadState_SetAsyncExc`), which stops pure-Python loops that make no
  calls; every sandboxed call also checks the deadline.
- Size: output is streamed and cut off at `MAX_OUTPUT`; `*`, `**`, `%` and string-building
  filters refuse results over `MAX_STRING`; call arguments over `MAX_STRING` are refused
  (this stops a recursive macro from doubling a string). Work that happens inside one C call
  cannot be interrupted by the watchdog, so it is refused before the call: padding widths
  (`str.format` specs, `ljust`/`center`/`zfill`/`expandtabs`), `join` and `replace` results,
  `batch`/`slice` counts, and integers past `MAX_INT_BITS` from `*` and `**`.
- Regexes go through `processing.sandbox.regexes` (timeout per match).
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any, TypeVar

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from jinja2 import StrictUndefined, TemplateError, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import do_join as _jinja_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import pass_eval_context

from processing.sandbox import regexes

_T = TypeVar("_T")

RENDER_SECONDS = 0.25
MAX_OUTPUT = 100_000
MAX_STRING = 1_000_000
MAX_SOURCE = 20_000
MAX_RANGE = 10_000
MAX_INT_BITS = 100_000  # ~30,000 digits: one multiplication of two stays well under a second


class SandboxError(Exception):
    """A template that failed to compile or render; `str()` is a message for the user."""


class _Deadline(BaseException):  # noqa: N818 - raised asynchronously, never caught by `except Exception`
    """Raised inside the rendering thread by the watchdog."""


# --- the watchdog ---------------------------------------------------------------------------


class _Watchdog:
    """One daemon thread that interrupts renders running past their deadline."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._armed: dict[int, int] = {}  # token -> thread id
        self._heap: list[tuple[float, int]] = []  # (deadline, token)
        self._tokens = itertools.count(1)
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> int:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="jinja-watchdog")
                self._thread.daemon = True
                self._thread.start()
            token = next(self._tokens)
            deadline = time.monotonic() + seconds
            self._armed[token] = threading.get_ident()
            # Wake the watchdog only when this deadline comes first (usually it does not).
            if not self._heap or deadline < self._heap[0][0]:
                self._lock.notify()
            heapq.heappush(self._heap, (deadline, token))
            return token

    def disarm(self, token: int) -> bool:
        """Forget `token`; False when the watchdog already fired it."""
        with self._lock:
            return self._armed.pop(token, None) is not None

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._lock.wait()
                    continue
                deadline, token = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                heapq.heappop(self._heap)
                thread_id = self._armed.pop(token)
                _raise_in(thread_id, _Deadline)


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None
    )


_watchdog = _Watchdog()
_local = threading.local()


def _bounded(work: Callable[[], str], seconds: float) -> str:
    """Run `work` in this thread, interrupted after `seconds`."""
    _local.deadline = time.monotonic() + seconds
    token = _watchdog.arm(seconds)
    try:
        try:
            result = work()
        finally:
            fired = not _watchdog.disarm(token)
        if fired:
            # The interrupt may still be pending: take it back before leaving the guard.
            _raise_in(threading.get_ident(), None)
            raise _Deadline
        return result
    except _Deadline:
        _raise_in(threading.get_ident(), None)
        raise SandboxError(f"The template took longer than {seconds} s.") from None
    finally:
        _local.deadline = None


def _check_deadline() -> None:
    deadline = getattr(_local, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise SecurityError("The template took too long.")


# --- the functions templates may use --------------------------------------------------------


def _check_size(value: _T) -> _T:
    if isinstance(value, str | bytes | list | tuple) and len(value) > MAX_STRING:
        raise SecurityError(f"A value longer than {MAX_STRING} characters was refused.")
    return value


def _to_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        return iso8601_to_time(value)
    return None


def datetime_format(value: Any, format: str = "%H:%M / %d-%m-%Y") -> str | None:  # noqa: A002
    """Format a datetime, a Unix timestamp or an ISO 8601 string with strftime codes."""
    moment = _to_datetime(value)
    return moment.strftime(format[:200]) if moment is not None else None


def iso8601_to_time(value: Any) -> datetime | None:
    """Parse an ISO 8601 string into a datetime (None when it does not parse)."""
    try:
        return parse_datetime(str(value).replace("Z", "+00:00"))
    except (ValueError, TypeError):
        return None


def json_dumps(value: Any) -> str:
    """Compact JSON."""
    return _check_size(json.dumps(value, ensure_ascii=False, default=str))


def tojson_pretty(value: Any) -> str:
    """Indented JSON with sorted keys."""
    return _check_size(json.dumps(value, ensure_ascii=False, indent=4, sort_keys=True, default=str))


def regex_match(value: Any, pattern: str) -> bool:
    """`{{ text | regex_match("^ERR") }}`: the pattern matches at the start."""
    return regexes.regex_match(str(pattern), str(value))


def regex_search(value: Any, pattern: str) -> bool:
    """`{{ text | regex_search("disk") }}`: the pattern matches anywhere."""
    return regexes.regex_search(str(pattern), str(value))


def regex_replace(value: Any, find: str, replace: str) -> str:
    """`{{ text | regex_replace("[0-9]+", "N") }}`."""
    return regexes.regex_sub(str(find), str(replace), str(value), MAX_STRING)


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range() is limited to {MAX_RANGE} items.")
    return rng


def _bounded_replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    text, old, new = str(value), str(old), str(new)
    hits = text.count(old) if count is None else min(count, text.count(old))
    if len(text) + hits * (len(new) - len(old)) > MAX_STRING:
        raise SecurityError(f"A value longer than {MAX_STRING} characters was refused.")
    return text.replace(old, new, -1 if count is None else count)


_FORMAT_SPEC = re.compile(r"%[#0 +-]*(\*|\d*)(?:\.(\*|\d*))?")


def _check_format(text: str) -> None:
    """Refuse printf widths and precisions ("%0999999999d") that would build huge strings."""
    for width, precision in _FORMAT_SPEC.findall(text):
        for number in (width, precision):
            if number == "*" or (number and int(number) > MAX_OUTPUT):
                raise SecurityError(f"A format width over {MAX_OUTPUT} was refused.")


def _bounded_format(value: Any, *args: Any, **kwargs: Any) -> str:
    text = str(value)
    _check_format(text)
    return _check_size(text % (kwargs or args))


def _bounded_width(filter_: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a width-taking filter; keeps Jinja's pass-environment marker (truncate, wordwrap
    take the environment first) and the filter's own defaults."""
    skip = 2 if getattr(filter_, "jinja_pass_arg", None) is not None else 1

    def bounded(*args: Any, **kwargs: Any) -> Any:
        widths = [*args[skip : skip + 1], kwargs.get("width"), kwargs.get("length")]
        if any(isinstance(w, int) and w > MAX_OUTPUT for w in widths):
            raise SecurityError(f"A width over {MAX_OUTPUT} was refused.")
        return _check_size(filter_(*args, **kwargs))

    if skip == 2:
        bounded.jinja_pass_arg = filter_.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


_SPEC_NUMBER = re.compile(r"\d+")


def _check_spec(spec: str) -> None:
    """Refuse `str.format` specs whose width or precision ("{:>999999999}") builds a huge
    string inside one C call, where the watchdog cannot stop it."""
    if any(int(number) > MAX_OUTPUT for number in _SPEC_NUMBER.findall(spec)):
        raise SecurityError(f"A format width over {MAX_OUTPUT} was refused.")


class _BoundedFormatter(SandboxedFormatter):
    """Jinja's sandboxed `str.format` with the width and precision of each field checked."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_spec(format_spec)
        return _check_size(super().format_field(value, format_spec))


# str methods that pad to a width given as their first argument (and expandtabs' tab size).
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


def _checked_str_call(method: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Refuse str and bytes method calls whose result would be huge, before the (C) call
    runs; the arguments to call with (an iterable given to `join` becomes a list)."""
    owner: Any = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if not isinstance(owner, str | bytes):
        return args
    if name in _WIDTH_METHODS:
        width = args[0] if args else 8
        tab: Any = "\t" if isinstance(owner, str) else b"\t"
        tabs = owner.count(tab) if name == "expandtabs" else 1
        if isinstance(width, int) and width * max(tabs, 1) > MAX_OUTPUT:
            raise SecurityError(f"A width over {MAX_OUTPUT} was refused.")
    elif name == "replace" and len(args) >= 2 and type(args[0]) is type(args[1]) is type(owner):
        text: Any = owner  # str with str arguments, or bytes with bytes
        old: Any = args[0]
        new: Any = args[1]
        hits = text.count(old) if old else len(text) + 1
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            hits = min(hits, args[2])
        if len(owner) + hits * (len(new) - len(old)) > MAX_STRING:
            raise SecurityError(f"A value longer than {MAX_STRING} characters was refused.")
    elif name == "join" and args:
        items = args[0] if isinstance(args[0], str | bytes | list | tuple) else list(args[0])
        _check_join(owner, items)
        return (items, *args[1:])
    return args


def _check_join(separator: str | bytes, items: Any) -> None:
    if isinstance(items, str | bytes | list | tuple):
        lengths = (len(item) if isinstance(item, str | bytes) else len(str(item)) for item in items)
        total = sum(lengths) + len(separator) * max(len(items) - 1, 0)
        if total > MAX_STRING:
            raise SecurityError(f"A value longer than {MAX_STRING} characters was refused.")


@pass_eval_context
def _bounded_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    """Jinja's `join`, refusing a result over MAX_STRING before it is built."""
    items = list(value)
    if attribute is None:
        _check_join(str(d), items)
    return _check_size(str(_jinja_join(eval_ctx, items, d, attribute)))


def _bounded_count(filter_: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap `batch` / `slice`, whose second argument is a count (of items per batch, or of
    slices) that the filter pads or allocates up to."""

    def bounded(value: Any, count: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(count, int) and count > MAX_RANGE:
            raise SecurityError(f"A count over {MAX_RANGE} was refused.")
        return filter_(value, count, *args, **kwargs)

    return bounded


def _check_int_result(operator: str, left: Any, right: Any) -> None:
    """Refuse `*` and `**` on integers whose result would pass MAX_INT_BITS: a single big
    multiplication is one C call that the watchdog cannot interrupt."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return
    if operator == "*":
        bits = left.bit_length() + right.bit_length()
    elif right > 0:
        bits = max(left.bit_length() - 1, 1) * right if abs(left) > 1 else 1
    else:
        return
    if bits > MAX_INT_BITS:
        raise SecurityError(f"A number over {MAX_INT_BITS} bits was refused.")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "datetime_format": datetime_format,
    "iso8601_to_time": iso8601_to_time,
    "json_dumps": json_dumps,
    "regex_match": regex_match,
    "regex_replace": regex_replace,
    "regex_search": regex_search,
    "tojson_pretty": tojson_pretty,
}


# --- the environment ------------------------------------------------------------------------


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox with size-checked operators and calls and a deadline check per call."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_deadline()
        if operator == "%" and isinstance(left, str):
            _check_format(left)
        if operator == "**" and isinstance(right, int | float) and abs(right) > 1000:
            raise SecurityError("Exponents over 1000 are refused.")
        if operator in ("*", "**"):
            _check_int_result(operator, left, right)
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_STRING:
                    raise SecurityError(f"A value longer than {MAX_STRING} was refused.")
        return _check_size(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check_deadline()
        for value in itertools.chain(args, kwargs.values()):
            _check_size(value)
        args = _checked_str_call(__obj, args)
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_deadline()
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            # Where Jinja's lookup ends for a payload's key (`p.title`), without failing to
            # find an attribute of that name first: a plain dict has only its type's.
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's `str.format` / `format_map` wrapper, with each field's spec checked."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text, is_map = value.__self__, value.__name__ == "format_map"
        formatter = _BoundedFormatter(self)

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    return wrapped(*args, **kwargs)  # Jinja's own TypeError
                return _check_size(formatter.vformat(text, (), args[0]))
            return _check_size(formatter.vformat(text, args, kwargs))

        return bounded

    def getitem(self, obj: Any, argument: Any) -> Any:
        _check_deadline()
        return super().getitem(obj, argument)


_DICT_ATTRIBUTES = frozenset(dir(dict))


def _make_environment(undefined: type[Undefined]) -> _Environment:
    env = _Environment(autoescape=False, undefined=undefined, cache_size=0)
    env.globals.pop("namespace", None)
    env.globals.pop("cycler", None)
    env.globals.pop("joiner", None)
    env.globals.pop("lipsum", None)
    env.globals["range"] = _bounded_range
    env.globals["time"] = timezone.now
    env.globals.update(FUNCTIONS)
    env.filters.update(FUNCTIONS)
    env.filters["replace"] = _bounded_replace
    for name in ("center", "indent", "wordwrap", "truncate"):
        env.filters[name] = _bounded_width(env.filters[name])
    env.filters["format"] = _bounded_format
    env.filters["join"] = _bounded_join
    for name in ("batch", "slice"):
        env.filters[name] = _bounded_count(env.filters[name])
    return env


_lenient = _make_environment(Undefined)
_strict = _make_environment(StrictUndefined)


@lru_cache(maxsize=1024)
def _compile(source: str, strict: bool) -> Any:
    env = _strict if strict else _lenient
    return env.from_string(source)


def template_check(source: str) -> None:
    """Raise SandboxError with the parser's message when `source` does not compile, or when
    a literal pattern given to a regex function is refused (`regexes.regex_check`)."""
    _template(source, strict=False)
    try:
        for pattern in _literal_patterns(_lenient.parse(source)):
            regexes.regex_check(pattern)
    except regexes.RegexError as error:
        raise SandboxError(str(error)) from None


_REGEX_FUNCTIONS = frozenset({"regex_match", "regex_search", "regex_replace"})


def _literal_patterns(tree: nodes.Template) -> Iterable[str]:
    """The constant patterns of `x | regex_search('...')` and `regex_search(x, '...')`."""
    for node in tree.find_all((nodes.Filter, nodes.Call)):
        if isinstance(node, nodes.Filter) and node.name in _REGEX_FUNCTIONS:
            pattern = node.args[0] if node.args else None
        elif isinstance(node, nodes.Call) and getattr(node.node, "name", "") in _REGEX_FUNCTIONS:
            pattern = node.args[1] if len(node.args) > 1 else None
        else:
            continue
        if isinstance(pattern, nodes.Const) and isinstance(pattern.value, str):
            yield pattern.value


def _template(source: str, *, strict: bool) -> Any:
    if len(source) > MAX_SOURCE:
        raise SandboxError(f"A template can be at most {MAX_SOURCE} characters.")
    try:
        return _compile(source, strict)
    except TemplateError as error:
        raise SandboxError(f"Template syntax error: {error}") from None


def _collect(chunks: Iterable[str]) -> str:
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise SandboxError(f"The template output is over {MAX_OUTPUT} characters.")
        parts.append(chunk)
    return "".join(parts)


def _rendered(chunks: Iterable[str]) -> str:
    """The text of a template's `chunks` (a generator: rendered as it is read);
    SandboxError says what went wrong."""
    try:
        return _collect(chunks)
    except SecurityError as error:
        raise SandboxError(f"Refused by the sandbox: {error}") from None
    except regexes.RegexError as error:
        raise SandboxError(str(error)) from None
    except TemplateError as error:
        raise SandboxError(f"Template error: {error}") from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as error:
        raise SandboxError(f"Template error: {type(error).__name__}: {error}") from None
    except RecursionError:
        raise SandboxError("Template error: recursion too deep.") from None
    except MemoryError:
        # A last resort: the checks above refuse what they can foresee.
        raise SandboxError("Refused by the sandbox: the template needed too much memory.") from None


def render(source: str, context: dict[str, Any], *, seconds: float = RENDER_SECONDS) -> str:
    """Render `source` with `context` in the sandbox; SandboxError says what went wrong."""
    template = _template(source, strict=False)
    return _bounded(lambda: _rendered(template.generate(context)), seconds)


@lru_cache(maxsize=1)
def _lenient_globals() -> dict[str, Any]:
    """The globals every template compiled by `_template(strict=False)` sees (`from_string`
    without globals of its own), as a plain dict: a template's `globals` is a ChainMap over
    them, slow to merge once per template and event."""
    return dict(_lenient.globals)


def render_each(
    sources: dict[str, str], context: dict[str, Any], *, seconds: float = RENDER_SECONDS
) -> tuple[dict[str, str], dict[str, str]]:
    """`render` for several templates with one context (an event's fields): the texts and
    the errors, by name. The context is merged with the globals once, not once a template
    (rendering is most of the pipeline's time); each template has its `seconds`. Globals
    are read at the first render: they are set when the environment is made, never after."""
    texts: dict[str, str] = {}
    errors: dict[str, str] = {}
    parent = {**_lenient_globals(), **context}
    for name, source in sources.items():
        try:
            template = _template(source, strict=False)
            chunks = template.root_render_func(template.new_context(parent, shared=True))
            texts[name] = _bounded(partial(_rendered, chunks), seconds)
        except SandboxError as error:
            errors[name] = str(error)
    return texts, errors


def expression_is_simple(source: str) -> bool:
    """True when `source` is one `{{ ... }}` expression (for showing it in the UI)."""
    try:
        body = _lenient.parse(source).body
    except TemplateError:
        return False
    return len(body) == 1 and isinstance(body[0], nodes.Output)


TRUTHY = frozenset({"y", "yes", "true", "on", "1", "ok"})


def is_truthy(rendered: str) -> bool:
    """The rendered text of a signal or Jinja condition counts as true (y/yes/true/on/1/ok)."""
    return rendered.strip().lower() in TRUTHY
