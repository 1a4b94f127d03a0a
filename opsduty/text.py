"""What counts as whitespace: one definition for the services, the API's fields and the
pattern that the OpenAPI document states for them.

JSON Schema patterns are ECMA-262 regexes, whose `\\s` is this set. Python's `\\s` and
`str.strip()` also take the separators U+001C-U+001F and U+0085 (and not U+FEFF), so a note
of "\\x1c" looked blank to the server while the document's `\\S` allowed it (schemathesis
found it, tests/api/test_schemathesis.py).
"""

from __future__ import annotations

ECMA_SPACE = (
    "\t\n\v\f\r \xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# Something other than whitespace; written with ASCII escapes only, which Python's `re` and
# ECMA regexes read alike (and the document keeps as they are).
NOT_BLANK_PATTERN = "[^" + "".join(f"\\u{ord(c):04x}" for c in ECMA_SPACE) + "]"


def text_strip(text: str) -> str:
    """`text` without the whitespace around it (`ECMA_SPACE`, nothing else)."""
    return text.strip(ECMA_SPACE)
