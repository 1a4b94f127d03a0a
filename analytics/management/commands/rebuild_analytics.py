"""`manage.py rebuild_analytics [--org DOMAIN]`: recompute the analytics from the incidents."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.services import analytics_rebuild, pending_apply
from opsduty.models import Organization


class Command(BaseCommand):
    help = "Rebuild the analytics facts and rollups from the incidents and notifications."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", help="only this organization (its domain)")

    def handle(self, *args: Any, **options: Any) -> None:
        organizations = None
        if options["org"]:
            organizations = list(Organization.objects.filter(domain=options["org"]))
            if not organizations:
                raise CommandError(f"No organization with the domain {options['org']!r}.")
        started = time.monotonic()
        counted = analytics_rebuild(organizations=organizations)
        pending_apply()  # the changes made while it ran
        self.stdout.write(
            f"Rebuilt the analytics of {counted} incidents in {time.monotonic() - started:.1f} s."
        )
