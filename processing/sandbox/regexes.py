r"""Regular expressions from users, bounded against catastrophic backtracking.

Patterns come from receive-channel templates and routing conditions, texts from webhook
payloads: both are untrusted. The `regex` package runs the match with a timeout (it checks
the clock inside its matching loop, which `re` cannot), so `(a+)+$` against a long run of
`a`s ends after `TIMEOUT_SECONDS` with `RegexTimeoutError` instead of pinning a worker.
Compiled patterns are cached.

Saved patterns (routing conditions, literal patterns in templates) are also checked for the
classic catastrophic shape, an unbounded repeat of something that is itself only unbounded
repeats or optional parts (`(a+)+`, `(a*)*`, `(\w+\s?)*`, `(.*)*`): such a pattern can
match one string in exponentially many ways, and is refused when it is saved. The check
reads the pattern with Python's own regex parser; patterns it cannot read (syntax only the
`regex` package has) and subtler shapes (`(a|aa)+`) still meet the timeout.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import regex

with warnings.catch_warnings():
    # The stdlib parser's public name is deprecated; it is the only parser of this syntax.
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants
    import sre_parse

TIMEOUT_SECONDS = 0.1
MAX_PATTERN_LENGTH = 1000


class RegexError(ValueError):
    """A pattern that does not compile, is too long, or took too long to match."""


class RegexTimeoutError(RegexError):
    """The match ran past its time limit."""


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> regex.Pattern[str]:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexError(f"A regular expression can be at most {MAX_PATTERN_LENGTH} characters.")
    try:
        return regex.compile(pattern, regex.VERSION0)
    except regex.error as error:
        raise RegexError(f"Invalid regular expression: {error}") from None


def regex_check(pattern: str) -> None:
    """Raise RegexError when `pattern` does not compile or has a catastrophic shape (for
    validating saved patterns)."""
    _compile(pattern)
    try:
        parsed = sre_parse.parse(pattern)
    except (sre_constants.error, RecursionError, OverflowError):
        return  # syntax of the `regex` package only: the timeout still bounds it
    if _nested_repeat(list(parsed.data)):
        raise RegexError(
            f"The regular expression {pattern[:60]!r} repeats a repeat (like (a+)+): it can "
            "take exponential time on some texts. Make the inner part match one way only, "
            "e.g. (a+)+ as a+ or (\\w+\\s?)* as [\\w\\s]*."
        )


_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT)


def _unbounded(item: tuple[Any, Any]) -> bool:
    return item[0] in _REPEATS and item[1][1] == sre_constants.MAXREPEAT


def _loose(item: tuple[Any, Any]) -> bool:
    """An unbounded repeat, or a group or alternative that is only repeats."""
    op, av = item
    if op == sre_constants.SUBPATTERN:
        return _only_repeats(list(av[-1]))
    if op == sre_constants.BRANCH:
        return any(_only_repeats(list(branch)) for branch in av[1])
    return _unbounded(item)


def _only_repeats(items: list[tuple[Any, Any]]) -> bool:
    """True when every part of `items` is loose (see _loose) or optional (minimum 0), with at
    least one loose part: then a repeat of `items` can split a text many ways."""
    optional = all(_loose(i) or (i[0] in _REPEATS and i[1][0] == 0) for i in items)
    return optional and any(_loose(i) for i in items)


def _children(op: Any, av: Any) -> list[list[tuple[Any, Any]]]:
    """The sub-patterns of one parsed item (groups, alternatives, lookarounds, repeats)."""
    if op in _REPEATS:
        return [list(av[2])]
    if op == sre_constants.SUBPATTERN:
        return [list(av[-1])]
    if op == sre_constants.BRANCH:
        return [list(branch) for branch in av[1]]
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return [list(av[1])]
    return []


def _nested_repeat(items: list[tuple[Any, Any]]) -> bool:
    """True when some unbounded repeat's body is only repeats (see _only_repeats)."""
    for op, av in items:
        if op in _REPEATS and av[1] == sre_constants.MAXREPEAT and _only_repeats(list(av[2])):
            return True
        if any(_nested_repeat(child) for child in _children(op, av)):
            return True
    return False


def _timed_out(pattern: str) -> RegexTimeoutError:
    return RegexTimeoutError(
        f"The regular expression {pattern[:60]!r} took longer than {TIMEOUT_SECONDS} s."
    )


def regex_search(pattern: str, text: str) -> bool:
    """True when `pattern` matches somewhere in `text`."""
    try:
        return _compile(pattern).search(text, timeout=TIMEOUT_SECONDS) is not None
    except TimeoutError:
        raise _timed_out(pattern) from None


def regex_match(pattern: str, text: str) -> bool:
    """True when `pattern` matches at the start of `text` (Python's `re.match`)."""
    try:
        return _compile(pattern).match(text, timeout=TIMEOUT_SECONDS) is not None
    except TimeoutError:
        raise _timed_out(pattern) from None


def regex_sub(pattern: str, replacement: str, text: str, max_length: int) -> str:
    """`re.sub`, refusing a result longer than `max_length` characters."""
    compiled = _compile(pattern)
    try:
        matches = len(compiled.findall(text, timeout=TIMEOUT_SECONDS))
        if len(text) + matches * len(replacement) > max_length:
            raise RegexError(f"The replacement would exceed {max_length} characters.")
        return compiled.sub(replacement, text, timeout=TIMEOUT_SECONDS)
    except TimeoutError:
        raise _timed_out(pattern) from None
    except regex.error as error:
        raise RegexError(f"Invalid replacement: {error}") from None
