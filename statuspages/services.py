"""Writes of status pages: pages, component groups and components, notices and their
updates, postmortems (docs/status-pages.md)."""

from __future__ import annotations
