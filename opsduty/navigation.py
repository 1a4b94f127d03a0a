"""Owner settings pages that packages at the edge add to the main navigation.

The core imports no integration (import-linter's `edge` contract) and `base.html` must not
name a URL that may be absent (an integration can be taken out of INSTALLED_APPS), so an
integration registers its page here in its `AppConfig.ready`, by URL name, and the
navigation lists what was registered (`{% settings_nav %}`, opsduty/templatetags).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SettingsPage",
    "organization_link_register",
    "organization_links",
    "settings_page_register",
    "settings_pages",
]


@dataclass(frozen=True)
class SettingsPage:
    """One owners-only entry of the main navigation; `active` is what its views pass as the
    template's `active` (the entry is then marked current)."""

    label: str
    url_name: str
    active: str


_pages: list[SettingsPage] = []


def settings_page_register(page: SettingsPage) -> None:
    """Add `page` to the owners' part of the navigation (idempotent), in registration order."""
    if page not in _pages:
        _pages.append(page)


def settings_pages() -> list[SettingsPage]:
    """The registered settings pages, in registration order."""
    return list(_pages)


_organization_links: list[SettingsPage] = []


def organization_link_register(page: SettingsPage) -> None:
    """Link `page` from the organization's settings page (idempotent), e.g. SSO."""
    if page not in _organization_links:
        _organization_links.append(page)


def organization_links() -> list[SettingsPage]:
    """The pages linked from the organization's settings page, in registration order."""
    return list(_organization_links)
