"""`manage.py create_api_token --org DOMAIN --email EMAIL [--scope api:v1]`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsduty import services
from opsduty.models import Organization, User, normalize_email


class Command(BaseCommand):
    help = "Issue an API access token for a user; prints only the token (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organization domain, e.g. acme")
        parser.add_argument("--email", required=True, help="email of a user of that organization")
        parser.add_argument(
            "--scope", default="api:v1", help="api:v1 (default) or api (all API versions)"
        )

    def handle(self, *args: Any, org: str, email: str, scope: str, **options: Any) -> None:
        if scope not in services.API_TOKEN_SCOPES:
            raise CommandError(f"Unknown scope {scope!r}: use 'api' or 'api:v1'.")
        organization = Organization.objects.filter(domain=org.strip().lower()).first()
        if organization is None:
            raise CommandError(f"No organization with domain {org!r}.")
        user = User.objects.for_org(organization).filter(email=normalize_email(email)).first()
        if user is None:
            raise CommandError(f"No user {email!r} in organization {organization.domain!r}.")
        if not user.is_active:
            raise CommandError(f"User {user.email!r} is deactivated; its token would not work.")
        self.stdout.write(services.api_token_create(user=user, scope=scope))
