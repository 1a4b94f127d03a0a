"""Browser-test fixtures: axe-core on the current page (tests/browser/axe.py), a page at each
of the two screen sizes (tests/browser/helpers.py SCREENS), and, for every browser test, a
check that the page never broke the Content-Security-Policy (docs/security.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from tests.browser.axe import assert_no_serious_violations
from tests.browser.helpers import SCREENS

# Runs in every page before its own scripts (Playwright injects it: the page's policy does
# not apply to it). A violation is also reported by Chromium on the console; the event gives
# the directive and what was blocked even when the console text changes between versions.
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " blocked " +
    (event.blockedURI || "inline") + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


def _is_csp_violation(message: ConsoleMessage) -> bool:
    text = message.text
    return "Content Security Policy" in text or text.startswith("CSP violation")


@pytest.fixture(autouse=True)
def csp_violations(browser: Browser) -> Iterator[list[str]]:
    """Every context a browser test opens (its own or pytest-playwright's `page`) records
    CSP violations from its pages' consoles; the test fails if there was any."""
    seen: list[str] = []
    original = browser.new_context

    def new_context(*args: Any, **kwargs: Any) -> BrowserContext:
        context = original(*args, **kwargs)
        context.add_init_script(_REPORT_VIOLATIONS)
        context.on(
            "console",
            lambda message: seen.append(message.text) if _is_csp_violation(message) else None,
        )
        return context

    browser.new_context = new_context  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        browser.new_context = original  # type: ignore[method-assign]
    assert not seen, "the Content-Security-Policy was violated:\n" + "\n".join(seen)


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
