"""A fake Slack for the test suite and `make run`: the Web API on loopback, signed requests to
the application (slash commands, interactions, events), response URLs, and a small HTML client
to install the app, watch channels, press buttons and fill modals.

It imports no Django app: run it on its own with `python -m integrations.slack.fake`.
"""

from integrations.slack.fake.model import (
    ApiCall,
    AppAnswer,
    Ephemeral,
    FakeError,
    Message,
    ResponsePost,
    View,
)
from integrations.slack.fake.server import FakeSlack

__all__ = [
    "ApiCall",
    "AppAnswer",
    "Ephemeral",
    "FakeError",
    "FakeSlack",
    "Message",
    "ResponsePost",
    "View",
]
