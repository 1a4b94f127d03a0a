"""Waiting for work done by another thread or process (a real Celery worker).

This is not a speed assertion: the deadline only stops a broken test from hanging.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], bool], *, deadline_seconds: float = 30.0) -> bool:
    """Poll `predicate` until it holds; return its last value."""
    give_up = time.monotonic() + deadline_seconds
    while not predicate():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.05)
    return True
