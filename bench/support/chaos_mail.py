"""The fake email provider of bench/chaos.py: Django's file backend, one write per message.

The escalator's email provider (`escalations/notifications/providers/email.py`) hands each
notification to Django's email backend; set `OPSDUTY_EMAIL_BACKEND` to
`bench.support.chaos_mail.FileEmailBackend` and `BENCH_MAIL_DIR` to a directory, and every
message is appended to `<pid>.log` there with a single unbuffered write: once the write
returns the message counts as delivered, and a process killed just after it cannot take it
back. `deliveries` counts the messages per `X-OpsDuty-Notification` header (the
notification's id), which is how the rig finds a notification delivered twice.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from email.message import Message
from pathlib import Path
from typing import Any

from django.core.mail.backends import filebased

SEPARATOR = b"\n" + b"-" * 79 + b"\n"
_HEADER = re.compile(rb"^X-OpsDuty-Notification: (\d+)\r?$", re.MULTILINE)


class FileEmailBackend(filebased.EmailBackend):
    """Appends each message to BENCH_MAIL_DIR/<pid>.log in one write()."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["file_path"] = os.environ["BENCH_MAIL_DIR"]
        super().__init__(*args, **kwargs)

    def _get_filename(self) -> str:
        return str(Path(self.file_path) / f"{os.getpid()}.log")

    def open(self) -> bool:
        if self.stream is None:
            self.stream = open(self._get_filename(), "ab", buffering=0)  # noqa: SIM115
            return True
        return False

    def write_message(self, message: Message) -> None:
        self.stream.write(message.message().as_bytes() + SEPARATOR)  # type: ignore[attr-defined]


def deliveries(directory: Path) -> Counter[int]:
    """Messages written to `directory`, counted per notification id."""
    counts: Counter[int] = Counter()
    for path in directory.glob("*.log"):
        counts.update(int(n) for n in _HEADER.findall(path.read_bytes()))
    return counts
