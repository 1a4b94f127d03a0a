"""Binding a Slack user to an OpsDuty person: `/opsduty account link` makes a one-time link
(only the sha256 of its token is stored, valid 10 minutes), whoever opens it signed in and
confirms becomes that Slack user here; unlinking (in Slack or on the profile) undoes it.

One link per person (`SlackUserLink.user` is one-to-one) and one person per Slack user of a
workspace (a unique constraint): confirming moves a Slack user bound to someone else.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.slack.models import SlackLinkRequest, SlackUserLink, SlackWorkspace
from opsduty.models import User

__all__ = [
    "LINK_LIFETIME",
    "LinkRefused",
    "Linked",
    "link_confirm",
    "link_request_check",
    "link_request_create",
    "slack_user_unlink",
    "token_hash",
    "user_unlink",
]

LINK_LIFETIME = timedelta(minutes=10)
AGAIN = "Type `/opsduty account link` in Slack again for a new link."


class LinkRefused(Exception):
    """The link cannot bind anyone: the page shows `message` with HTTP `status`."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@dataclass(frozen=True)
class Linked:
    """What confirming did: the new link, and the person the Slack user was taken from."""

    link: SlackUserLink
    moved_from: User | None


def token_hash(token: str) -> str:
    """The stored form of a link token."""
    return hashlib.sha256(token.encode()).hexdigest()


def link_request_create(*, workspace: SlackWorkspace, slack_user_id: str, slack_name: str) -> str:
    """A one-time link for the Slack user; the token (shown once, in Slack)."""
    token = secrets.token_urlsafe(32)
    SlackLinkRequest.objects.create(
        organization_id=workspace.organization_id,
        workspace=workspace,
        slack_user_id=slack_user_id[:32],
        slack_name=slack_name[:200],
        token_hash=token_hash(token),
        expires_at=timezone.now() + LINK_LIFETIME,
    )
    return token


def link_request_check(*, token: str, user: User, lock: bool = False) -> SlackLinkRequest:
    """The link request of `token` if `user` may confirm it now, else `LinkRefused` (unknown:
    404; used or expired: 410; another organization's workspace: 403). `lock` takes its row
    lock (the caller holds a transaction)."""
    requests = SlackLinkRequest.objects.select_related("workspace")
    if lock:
        requests = requests.select_for_update(of=("self",))
    request = requests.filter(token_hash=token_hash(token)).first()
    if request is None:
        raise LinkRefused(404, "Unknown link", f"This Slack link is not valid. {AGAIN}")
    if request.used_at is not None:
        raise LinkRefused(410, "Link already used", f"This Slack link was used already. {AGAIN}")
    if request.expires_at <= timezone.now():
        raise LinkRefused(
            410, "Link expired", f"This Slack link expired (links last 10 minutes). {AGAIN}"
        )
    if request.workspace.organization_id != user.organization_id:
        raise LinkRefused(
            403,
            "Another organization's link",
            "This link comes from a Slack workspace connected to another OpsDuty organization. "
            "Sign in to that organization's OpsDuty account, then open the link again.",
        )
    return request


@transaction.atomic
def link_confirm(*, token: str, user: User) -> Linked:
    """Bind the link's Slack user to `user` (single use: the request row is locked and marked
    used); `LinkRefused` says why not. A previous link of `user`, and the Slack user's link to
    someone else in the workspace, are replaced."""
    request = link_request_check(token=token, user=user, lock=True)
    now = timezone.now()
    if not SlackLinkRequest.objects.filter(pk=request.pk, used_at=None).update(used_at=now):
        raise LinkRefused(410, "Link already used", f"This Slack link was used already. {AGAIN}")
    workspace = request.workspace
    previous = (
        SlackUserLink.objects.select_for_update()
        .select_related("user")
        .filter(workspace=workspace, slack_user_id=request.slack_user_id)
        .exclude(user=user)
        .first()
    )
    moved_from = previous.user if previous is not None else None
    try:
        with transaction.atomic():
            if previous is not None:
                previous.delete()
            SlackUserLink.objects.filter(user=user).delete()
            link = SlackUserLink.objects.create(
                organization_id=user.organization_id,
                user=user,
                workspace=workspace,
                slack_user_id=request.slack_user_id,
                slack_name=request.slack_name,
                linked_at=now,
            )
    except IntegrityError:
        # Another link of the same Slack user was confirmed at this very moment.
        raise LinkRefused(
            409, "Try again", f"This Slack user was being linked at the same time. {AGAIN}"
        ) from None
    return Linked(link=link, moved_from=moved_from)


@transaction.atomic
def slack_user_unlink(*, workspace: SlackWorkspace, slack_user_id: str) -> User | None:
    """Unbind the Slack user of the workspace; the person it was bound to, if any."""
    link = (
        SlackUserLink.objects.select_related("user")
        .filter(workspace=workspace, slack_user_id=slack_user_id)
        .first()
    )
    if link is None:
        return None
    link.delete()
    return link.user


@transaction.atomic
def user_unlink(*, user: User) -> SlackUserLink | None:
    """Unbind `user` from their Slack user; the removed link, if there was one."""
    link = SlackUserLink.objects.filter(user=user).first()
    if link is not None:
        link.delete()
    return link


def person_data_remove(user: User) -> None:
    """A deleted person's link to their Slack user (opsduty/services.py `user_delete`)."""
    user_unlink(user=user)
