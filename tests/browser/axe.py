"""axe-core in the browser tests (axe-playwright-python): run it on the page a test is on and
fail with every serious or critical violation, its rule id and the elements it names.

    from tests.browser.axe import assert_no_serious_violations
    assert_no_serious_violations(page)
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

SERIOUS = ("serious", "critical")

_axe = Axe()


def axe_violations(page: Page, impacts: tuple[str, ...] = SERIOUS) -> list[str]:
    """One line per violation of the given impacts: rule id, impact, help, and targets."""
    response: dict[str, Any] = _axe.run(page).response
    lines = []
    for violation in response["violations"]:
        if violation["impact"] not in impacts:
            continue
        targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"])
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} -> {targets}")
    # axe-core leaves text of exactly the background's color "to review" (it might be hidden
    # on purpose); on our pages it is text nobody can read (a status page's headline was).
    for check in response["incomplete"]:
        if check["id"] != "color-contrast":
            continue
        for node in check["nodes"]:
            if any((c.get("data") or {}).get("messageKey") == "equalRatio" for c in node["any"]):
                target = " ".join(node["target"])
                lines.append(
                    f"color-contrast (serious): text as the background's color -> {target}"
                )
    return lines


def assert_no_serious_violations(page: Page) -> None:
    """Fail with the rule ids and targets when axe finds a serious or critical violation."""
    problems = axe_violations(page)
    assert not problems, f"axe on {page.url}:\n" + "\n".join(problems)
