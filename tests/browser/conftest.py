"""Browser-test fixtures: axe-core on the current page (tests/browser/axe.py), and a page at
each of the two screen sizes (tests/browser/helpers.py SCREENS)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.axe import assert_no_serious_violations
from tests.browser.helpers import SCREENS


@pytest.fixture
def axe_check() -> Callable[[Page], None]:
    """`axe_check(page)` fails with every serious or critical axe-core violation."""
    return assert_no_serious_violations


@pytest.fixture(params=list(SCREENS))
def screen_page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context, once at the laptop and once at the phone size."""
    context = browser.new_context(viewport=SCREENS[request.param])
    yield context.new_page()
    context.close()
