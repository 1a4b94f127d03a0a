"""Forms of Settings -> Slack: channels are offered from the workspace's directory only."""

from __future__ import annotations

from typing import Any

from django import forms

from integrations.slack.models import SlackChannel, SlackWorkspace
from integrations.slack.setup import selectors
from opsduty.longchoices import FastSelect, SharedChoices

__all__ = ["ChannelSettingsForm", "ServiceChannelForm", "UninstallForm", "service_channel_choices"]


def _choices(channels: list[SlackChannel], empty: str) -> list[tuple[str, str]]:
    listed = [
        (channel.channel_id, f"#{channel.name}{' (private)' if channel.is_private else ''}")
        for channel in channels
    ]
    return [("", empty), *listed]


class ChannelSettingsForm(forms.Form):
    default_channel = forms.ChoiceField(
        label="Default channel",
        required=False,
        widget=FastSelect,
        help_text="New incidents are posted here unless their service names its own channel.",
    )
    thread_replies = forms.BooleanField(
        label="Post timeline updates as thread replies under each incident message",
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        workspace: SlackWorkspace,
        channels: list[SlackChannel] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault(
            "initial",
            {
                "default_channel": workspace.default_channel_id,
                "thread_replies": workspace.thread_replies,
            },
        )
        super().__init__(*args, **kwargs)
        listed = channels if channels is not None else selectors.channel_list(workspace=workspace)
        field = self.fields["default_channel"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = _choices(listed, "No default channel")


class ServiceChannelForm(forms.Form):
    channel = forms.ChoiceField(label="Slack channel", required=False, widget=FastSelect)

    def __init__(
        self,
        *args: Any,
        workspace: SlackWorkspace,
        choices: SharedChoices | None = None,
        **kwargs: Any,
    ) -> None:
        """`choices`: `service_channel_choices` of the directory, made once for a page's rows
        (else the workspace's directory is read)."""
        super().__init__(*args, **kwargs)
        field = self.fields["channel"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices or service_channel_choices(
            selectors.channel_list(workspace=workspace)
        )


def service_channel_choices(channels: list[SlackChannel]) -> SharedChoices:
    """The choices of `ServiceChannelForm.channel`; made once, they serve every row's form."""
    return SharedChoices(_choices(channels, "Organization default"))


class UninstallForm(forms.Form):
    confirm = forms.BooleanField(
        label="Yes: remove OpsDuty from this Slack workspace",
        error_messages={"required": "Tick the box to confirm."},
    )
