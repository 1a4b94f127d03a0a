"""`python -m integrations.twilio.fake --port 8001 --account AC...:TOKEN
--forward https://ops.example.com=http://127.0.0.1:8000`: the fake Twilio until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from integrations.twilio.fake.server import FakeTwilio


def main(argv: list[str] | None = None) -> int:
    """Parse the options, serve, and stop cleanly on SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m integrations.twilio.fake")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (the default)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account", action="append", default=[], metavar="SID:TOKEN")
    parser.add_argument("--forward", action="append", default=[], metavar="PUBLIC=REAL")
    options = parser.parse_args(argv)
    accounts = dict(item.split(":", 1) for item in options.account)
    fake = FakeTwilio(options.host, options.port, accounts=accounts)
    for item in options.forward:
        public, _, real = item.partition("=")
        fake.forward(public, real)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with fake:
        print(f"fake Twilio on {fake.url} ({len(accounts)} accounts)", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
