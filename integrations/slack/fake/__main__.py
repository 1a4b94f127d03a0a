"""`python -m integrations.slack.fake --port 8002 --signing-secret S --client-id ID
--client-secret SEC --app-url http://127.0.0.1:8000 [--demo]`: the fake Slack until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from integrations.slack.fake.server import FakeSlack

DEMO_TEAM = "T0DEMO"
DEMO_CHANNELS = {"C0INCIDENTS": "incidents", "C0API": "api-alerts", "C0CHECKOUT": "checkout"}
# The people of `manage.py seed_demo`, with the same emails: the app matches Slack users by them.
DEMO_PEOPLE = {
    "U0OWNER": ("owner", "Olivia Owner"),
    "U0ALICE": ("alice", "Alice Andersen"),
    "U0BOB": ("bob", "Bob Berg"),
    "U0CAROL": ("carol", "Carol Christensen"),
}


def add_demo(fake: FakeSlack) -> None:
    """The demo workspace: #incidents, #api-alerts, #checkout and the four demo people."""
    fake.add_team(DEMO_TEAM, "OpsDuty Demo", "opsduty-demo")
    for channel_id, name in DEMO_CHANNELS.items():
        fake.add_channel(DEMO_TEAM, channel_id, name)
    for user_id, (name, real_name) in DEMO_PEOPLE.items():
        email = f"{name}@demo.example"
        fake.add_user(DEMO_TEAM, user_id, name=name, real_name=real_name, email=email)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, serve, and stop cleanly on SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m integrations.slack.fake")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (the default)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--signing-secret", default="fake-signing-secret")
    parser.add_argument("--client-id", default="111.222")
    parser.add_argument("--client-secret", default="fake-client-secret")
    parser.add_argument("--app-url", default="http://127.0.0.1:8000")
    parser.add_argument("--demo", action="store_true", help="add the demo workspace")
    options = parser.parse_args(argv)
    fake = FakeSlack(
        signing_secret=options.signing_secret,
        client_id=options.client_id,
        client_secret=options.client_secret,
        app_url=options.app_url,
        host=options.host,
        port=options.port,
    )
    if options.demo:
        add_demo(fake)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with fake:
        print(f"fake Slack on {fake.url} (app at {fake.app_url})", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
