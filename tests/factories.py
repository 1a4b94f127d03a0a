"""factory_boy factories for the tenancy core, plus helpers for API tokens."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from django.utils import timezone
from factory.declarations import Sequence, SubFactory
from factory.django import DjangoModelFactory
from factory.faker import Faker
from factory.helpers import post_generation
from oauth2_provider.models import AccessToken, Application, set_token_value
from oauthlib.common import generate_token

from escalations.catalog.services import service_create
from incidents.ingest.services import ingest_event
from incidents.models import Incident, IncidentResponder, ResponderStatus
from opsduty.events import EventData
from opsduty.models import Label, Organization, Role, Service, Team, TeamMembership, User
from processing.channels.services import receive_channel_create
from processing.models import ReceiveChannel
from signals.models import IncidentReference, RawEvent, Webhook
from signals.webhooks.services import webhook_create

PASSWORD = "correct horse battery staple"


class OrganizationFactory(DjangoModelFactory[Organization]):
    class Meta:
        model = Organization
        django_get_or_create = ("domain",)

    name = Sequence(lambda n: f"Organization {n}")
    domain = Sequence(lambda n: f"org{n}")


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    organization = SubFactory(OrganizationFactory)
    email = Sequence(lambda n: f"user{n}@example.test")
    first_name = Faker("first_name")
    last_name = Faker("last_name")
    role = Role.MEMBER

    @post_generation  # type: ignore[untyped-decorator]
    def password(obj: User, create: bool, extracted: str | None, **kwargs: Any) -> None:  # noqa: N805
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])


class TeamFactory(DjangoModelFactory[Team]):
    class Meta:
        model = Team

    organization = SubFactory(OrganizationFactory)
    name = Sequence(lambda n: f"Team {n}")


def make_organization(**kwargs: Any) -> Organization:
    return OrganizationFactory.create(**kwargs)


def make_user(**kwargs: Any) -> User:
    return UserFactory.create(**kwargs)


def make_team(**kwargs: Any) -> Team:
    return TeamFactory.create(**kwargs)


def make_label(
    *, organization: Organization, name: str, team: Team | None = None, group: str = ""
) -> Label:
    """A label of the organization (or of `team`), as the labels page makes them."""
    return Label.objects.create(
        organization=organization, team=team, name=name, group=group, color="#6b7280"
    )


def add_member(team: Team, user: User) -> TeamMembership:
    return TeamMembership.objects.create(organization=team.organization, team=team, user=user)


def access_token_for(user: User, scope: str = "api:v1", expires_in: timedelta | None = None) -> str:
    """Issue a real OAuth2 access token for `user` and return the bearer string."""
    application = Application.objects.create(
        name=f"test app {user.pk}",
        user=user,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1/callback",
    )
    raw = generate_token()
    token = AccessToken(
        user=user,
        application=application,
        scope=scope,
        expires=timezone.now() + (expires_in if expires_in is not None else timedelta(days=1)),
    )
    set_token_value(token, raw)  # stored as the app stores it: checksum only
    token.save()
    return str(raw)


# --- services and incidents (through the services, as the app creates them) ----------------

_service_numbers = itertools.count(1)


def make_service(
    *, team: Team | None = None, organization: Organization | None = None, **kwargs: Any
) -> Service:
    """A service created by `escalations.catalog.services.service_create` (a new team if none)."""
    if team is None:
        team = make_team(organization=organization or make_organization())
    kwargs.setdefault("name", f"Service {next(_service_numbers)}")
    return service_create(team=team, by=None, **kwargs)


def make_incident(
    *,
    service: Service,
    summary: str = "Disk full",
    reference: IncidentReference | None = None,
    **event: Any,
) -> Incident:
    """A new incident opened by `incidents.services.ingest_event` (a fresh dedup id)."""
    event.setdefault("dedup_id", generate_token())
    return ingest_event(
        service=service, event=EventData(summary=summary, **event), reference=reference
    )


def make_reference(*, organization: Organization) -> IncidentReference:
    """A pending incident reference, as the event receiver records it before processing."""
    return IncidentReference.objects.create(organization=organization)


def make_responder(
    *, incident: Incident, user: User, status: str = ResponderStatus.PENDING
) -> IncidentResponder:
    """A responder row, as the escalation engine records a paged user."""
    return IncidentResponder.objects.create(
        organization_id=incident.organization_id,
        incident=incident,
        user=user,
        status=status,
        last_notified=timezone.now() if status == ResponderStatus.PENDING else None,
    )


_channel_numbers = itertools.count(1)


def make_receive_channel(
    *, organization: Organization | None = None, **kwargs: Any
) -> ReceiveChannel:
    """A receive channel created by `processing.channels.services.receive_channel_create`."""
    kwargs.setdefault("name", f"Channel {next(_channel_numbers)}")
    return receive_channel_create(
        organization=organization or make_organization(), by=None, **kwargs
    )


# --- webhooks and raw events ----------------------------------------------------------------

_webhook_numbers = itertools.count(1)


def make_webhook(*, organization: Organization, **kwargs: Any) -> Webhook:
    """A webhook created by `signals.webhooks.services.webhook_create`."""
    kwargs.setdefault("name", f"Webhook {next(_webhook_numbers)}")
    return webhook_create(organization=organization, by=None, **kwargs)


def make_raw_event(
    *,
    organization: Organization,
    webhook: Webhook | None = None,
    routing_key: str = "no-such-key",
    body: dict[str, Any] | None = None,
    **fields: Any,
) -> RawEvent:
    """A raw event with its reference, as the receiver stores it (pending unless told)."""
    return RawEvent.objects.create(
        organization=organization,
        webhook=webhook,
        routing_key=routing_key,
        reference=make_reference(organization=organization),
        body=body if body is not None else {"title": "Test", "dedup_id": "test-1"},
        headers=fields.pop("headers", {"content-type": "application/json"}),
        **fields,
    )
