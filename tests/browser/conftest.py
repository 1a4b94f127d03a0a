"""Browser-test fixtures: axe-core on the current page (tests/browser/axe.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from tests.browser.axe import assert_no_serious_violations


@pytest.fixture
def axe_check() -> Callable[[Page], None]:
    """`axe_check(page)` fails with every serious or critical axe-core violation."""
    return assert_no_serious_violations
