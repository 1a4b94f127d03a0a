"""`manage.py create_api_token --org DOMAIN --email EMAIL [--name CLI] [--scope api:v1]
[--expires YYYY-MM-DD|never]`: the same personal API token as Profile → API tokens."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from opsduty import services
from opsduty.models import Organization, User, normalize_email


def _expires(value: str | None) -> datetime | None:
    """None: two years from now; "never": no expiry; a date: 00:00 UTC that day."""
    if value is None:
        lifetime = timedelta(seconds=settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"])
        return timezone.now() + lifetime
    if value.strip().lower() == "never":
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(f"--expires {value!r}: use a date (YYYY-MM-DD) or 'never'.") from None
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Issue a personal API token for a user; prints only the token (shown once, "
        "listed by name at /profile/tokens/)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="organization domain, e.g. acme")
        parser.add_argument("--email", required=True, help="email of a user of that organization")
        parser.add_argument(
            "--name", default=services.CLI_TOKEN_NAME, help="the token's name (default: CLI)"
        )
        parser.add_argument(
            "--scope", default="api:v1", help="api:v1 (default) or api (all API versions)"
        )
        parser.add_argument(
            "--expires",
            default=None,
            help="YYYY-MM-DD (the token stops at 00:00 UTC that day) or 'never'; "
            "default: two years from now",
        )

    def handle(
        self,
        *args: Any,
        org: str,
        email: str,
        name: str,
        scope: str,
        expires: str | None,
        **options: Any,
    ) -> None:
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
        try:
            issued = services.api_token_issue(
                user=user, name=name, scope=scope, expires=_expires(expires)
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(issued.raw)
