"""The notification rules section of the profile page."""

from __future__ import annotations

import pytest
from django.test import Client

from escalations.notifications.rules import notification_rule_list
from opsduty.models import User

URL = "/profile/notification-rules/"


def _pairs(user: User, urgency: str) -> list[tuple[int, str]]:
    return [
        (r.delay_minutes, r.channel) for r in notification_rule_list(user=user, urgency=urgency)
    ]


@pytest.mark.django_db
def test_profile_shows_the_default_rules(member_client: Client) -> None:
    page = member_client.get("/profile/notifications/").content.decode()
    assert "Notification rules" in page
    assert "High urgency" in page and "Low urgency" in page
    assert 'value="voice" selected' in page


@pytest.mark.django_db
def test_edit_add_and_remove_rows(member_client: Client, member: User) -> None:
    response = member_client.post(
        URL,
        {
            "urgency": "high",
            # rows: email 0 (kept, edited to 2), sms 0 (removed), voice 5, new slack 1
            "delay_minutes": ["2", "0", "5", "1"],
            "channel": ["email", "sms", "voice", "slack"],
            "remove": ["1"],
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/profile/notifications/"
    assert _pairs(member, "high") == [(1, "slack"), (2, "email"), (5, "voice")]
    assert _pairs(member, "low") == [(0, "email")]


@pytest.mark.django_db
def test_invalid_rules_answer_422_with_clear_errors(member_client: Client, member: User) -> None:
    response = member_client.post(
        URL,
        {"urgency": "low", "delay_minutes": ["soon", "2000"], "channel": ["email", "sms"]},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "Rule 1: the delay must be a whole number of minutes." in body
    assert _pairs(member, "low") == [(0, "email")]
    response = member_client.post(
        URL, {"urgency": "low", "delay_minutes": ["2000"], "channel": ["email"]}
    )
    assert response.status_code == 422
    assert "Rule 1: the delay must be 0 to 1440 minutes." in response.content.decode()


@pytest.mark.django_db
def test_owners_view_others_rules_members_do_not(
    owner_client: Client, member_client: Client, owner: User, member: User, outsider: User
) -> None:
    response = owner_client.get(f"/users/{member.pk}/notification-rules/")
    assert response.status_code == 200
    assert "After 5 min: voice" in response.content.decode()
    assert member_client.get(f"/users/{owner.pk}/notification-rules/").status_code == 403
    assert member_client.get(f"/users/{member.pk}/notification-rules/").status_code == 200
    assert owner_client.get(f"/users/{outsider.pk}/notification-rules/").status_code == 404
