"""The shell examples of README.md and docs/*.md, as tests/docs/test_examples.py runs them.

A fenced block is an example when the line before its opening fence is a marker comment
(docs/README.md, "Examples that run"):

    <!-- doc-test -->                          run it; it must exit 0
    <!-- doc-test expect='"status":"acknowledged"' -->
                                               ... and print that (the block shows it too)
    <!-- no-doc-test: why it cannot run in a test -->

Every shell block (`sh`, `bash`, `shell`, `console`), and any other block that runs `curl`,
`manage.py` or the `opsduty` CLI, must carry one of the two markers.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
COMMAND = re.compile(r"(^|\s)(curl|opsduty|\S*manage\.py)\s")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)(?P<info>.*)$")
MARKER = re.compile(r"^\s*<!--\s*(?P<kind>no-doc-test|doc-test)(?P<rest>.*?)-->\s*$")


@dataclass
class Block:
    """One fenced block: where it is, its language, its text and its marker."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    marker: str | None = None  # "doc-test", "no-doc-test" or None
    reason: str = ""  # of a no-doc-test marker
    expect: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def needs_marker(self) -> bool:
        return self.language in SHELL_LANGUAGES or bool(COMMAND.search(self.text))


def documentation_pages() -> list[Path]:
    """README.md and every page under docs/, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _marker(block: Block, previous: str) -> None:
    match = MARKER.match(previous)
    if match is None:
        return
    block.marker = match["kind"]
    rest = match["rest"].strip()
    if block.marker == "no-doc-test":
        block.reason = rest.removeprefix(":").strip()
        return
    for option in shlex.split(rest):
        name, _, value = option.partition("=")
        if name != "expect" or not value:
            raise ValueError(f"{block.where}: unknown doc-test option {option!r}")
        block.expect.append(value)


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, with their markers."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        start = index - len(body)  # the fence's 1-based line number
        block = Block(path, start, opening["info"].strip().split(" ")[0], "\n".join(body) + "\n")
        previous = next((ln for ln in reversed(lines[: start - 1]) if ln.strip()), "")
        _marker(block, previous)
        found.append(block)
        index += 1
    return found


def runnable(path: Path) -> list[Block]:
    """The blocks of `path` marked doc-test, in page order."""
    return [block for block in blocks(path) if block.marker == "doc-test"]
