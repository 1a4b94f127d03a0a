"""`manage.py create_scim_token --org DOMAIN --email OWNER`: the organization's SCIM token, as
the organization settings page makes it (a new one replaces the one before); prints only
the token, shown once."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.scim.services import scim_token_issue
from opsduty.models import Organization, User, normalize_email


class Command(BaseCommand):
    help = "Create (or rotate) an organization's SCIM token as one of its owners; prints it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organization domain, e.g. acme")
        parser.add_argument("--email", required=True, help="email of an owner of it")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = Organization.objects.filter(domain=options["org"].strip()).first()
        if organization is None or organization.closed_at is not None:
            raise CommandError(f"No open organization with the domain {options['org']!r}.")
        owner = User.objects.filter(
            organization=organization, email=normalize_email(options["email"]), is_active=True
        ).first()
        if owner is None:
            raise CommandError(f"No active person {options['email']!r} in {organization.domain}.")
        try:
            issued = scim_token_issue(organization=organization, by=owner)
        except PermissionDenied as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(issued.raw)
