"""Regular expressions from users, bounded against catastrophic backtracking.

Patterns come from receive-channel templates and routing conditions, texts from webhook
payloads: both are untrusted. The `regex` package runs the match with a timeout (it checks
the clock inside its matching loop, which `re` cannot), so `(a+)+$` against a long run of
`a`s ends after `TIMEOUT_SECONDS` with `RegexTimeoutError` instead of pinning a worker.
Compiled patterns are cached.
"""

from __future__ import annotations

from functools import lru_cache

import regex

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
    """Raise RegexError when `pattern` does not compile (for validating saved patterns)."""
    _compile(pattern)


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
