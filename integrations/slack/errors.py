"""What a failed Web API call means for us: retry later (rate limit, Slack down), or stop
(the token was revoked, the channel or user is gone)."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.errors import SlackApiError, SlackClientError

__all__ = ["Failure", "failure_of"]

# The installation is gone: the workspace uninstalled us or revoked the token.
INSTALLATION_GONE = {"invalid_auth", "token_revoked", "account_inactive", "not_authed"}
# The person cannot be messaged (not in the workspace, deactivated).
RECIPIENT_GONE = {"user_not_found", "channel_not_found", "user_disabled", "cannot_dm_bot"}
DESCRIPTIONS = {
    "invalid_auth": "Slack refused our token: reinstall the app (Settings, Slack)",
    "token_revoked": "the Slack app was uninstalled or its token revoked",
    "account_inactive": "the Slack app's token belongs to a deactivated account",
    "channel_not_found": "the Slack channel does not exist or the app cannot see it",
    "not_in_channel": "the app is not in the channel: invite it (/invite @OpsDuty)",
    "is_archived": "the Slack channel is archived",
    "user_not_found": "the person is not in the Slack workspace",
    "ratelimited": "Slack rate limit",
    "msg_too_long": "the message is too long for Slack",
    "message_not_found": "the Slack message was deleted",
}
DEFAULT_RETRY_AFTER = 30


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    # Seconds to wait before trying again; None: trying again will not help.
    retry_after: int | None

    @property
    def installation_gone(self) -> bool:
        return self.code in INSTALLATION_GONE

    @property
    def recipient_gone(self) -> bool:
        return self.code in RECIPIENT_GONE


def failure_of(error: SlackClientError | OSError) -> Failure:
    """What `error` (from a WebClient call) means."""
    if isinstance(error, SlackApiError):
        response = error.response
        if response.status_code == 429:
            header = response.headers.get("Retry-After") or response.headers.get("retry-after")
            try:
                retry_after = max(1, int(str(header)))
            except (TypeError, ValueError):
                retry_after = DEFAULT_RETRY_AFTER
            return Failure(
                "ratelimited", f"Slack rate limit (retry after {retry_after} s)", retry_after
            )
        code = str(response.get("error") or f"http_{response.status_code}")
        retry = 10 if response.status_code >= 500 else None
        return Failure(code, DESCRIPTIONS.get(code, f"Slack answered {code}"), retry)
    return Failure("unreachable", f"Slack unreachable ({error})", 10)
