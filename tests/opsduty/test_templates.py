"""Template hygiene that Django itself does not check."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_single_line_comments_close_on_their_line() -> None:
    """Django's `{# #}` comment is one line only; an unclosed one prints its text on the page."""
    leaks = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.count("{#") != line.count("#}")
    ]
    assert leaks == []
