"""Secrets in logs (docs/security.md): a pytest plugin that records the text of every log
record of the test run (and the output of the Celery worker processes that tests start),
registers every secret the tests create, and fails the run at its end if a log names one.

What counts as a secret: API and OAuth tokens (the raw value, before its checksum is
stored), OAuth client secrets, webhook keys, heartbeat check-in keys, calendar feed tokens,
Twilio auth tokens, Slack bot tokens and signing secrets, SSO client secrets, status pages'
visitor token secrets, people's phone
numbers, and the deployment's own (SECRET_KEY, the database password, the encryption keys). They are
registered as the rows are saved (`pre_save` receivers: the values are still clear there)
and by `secret_register` where a test makes one by hand.

The records are those the configured levels let through (INFO and up, as in production).
Their text goes to a file, not to memory: a full run logs a lot.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Shorter values (a 4-digit SMS code, "prod") would match by chance.
MIN_LENGTH = 8

_secrets: set[str] = set()
# The standard attributes of a LogRecord; anything else was passed as `extra=` and is
# written by the JSON formatter, so it is scanned too.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def secret_register(*values: object) -> None:
    """Remember secrets the test run created: no log may contain them."""
    for value in values:
        text = str(value or "").strip()
        if len(text) >= MIN_LENGTH:
            _secrets.add(text)


class LogRecorder(logging.Handler):
    """Appends each record's formatted text (message, traceback, extras) to a file."""

    def __init__(self, path: Path) -> None:
        super().__init__(level=logging.DEBUG)
        self.path = path
        self._file = path.open("a", encoding="utf-8", errors="replace")
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a broken record must not hide the others
            text = f"{record.name}: {record.msg!r} {record.args!r}"
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if extras:
            text += f" {extras!r}"
        self._file.write(text.replace("\n", "\n  ") + "\n")

    def add_text(self, source: str, text: str) -> None:
        """Output of another process (a Celery worker's log file)."""
        self._file.write(f"[{source}]\n{text}\n")

    def lines(self) -> Iterator[str]:
        self._file.flush()
        with self.path.open(encoding="utf-8", errors="replace") as file:
            yield from file

    def close(self) -> None:
        # `logging.config.dictConfig` (Django's set-up, a test reconfiguring logging) closes
        # every handler it replaces; this one outlives that and is re-attached (`_attach`).
        self._file.flush()

    def finish(self) -> None:
        """Close the file for good (the end of the session)."""
        self._file.close()
        super().close()


_recorder: LogRecorder | None = None


def recorder() -> LogRecorder:
    """The run's recorder (installed by `pytest_configure`)."""
    assert _recorder is not None, "tests.log_secrets is not loaded"
    return _recorder


def _attach() -> None:
    """(Re-)install the recorder on the root logger: a test that reconfigures logging
    (dictConfig) drops the handlers it does not name."""
    root = logging.getLogger()
    if _recorder is not None and _recorder not in root.handlers:
        root.addHandler(_recorder)


def _register_deployment_secrets() -> None:
    from django.conf import settings

    secret_register(settings.SECRET_KEY, settings.DATABASES["default"].get("PASSWORD"))
    secret_register(*settings.OPSDUTY_ENCRYPTION_KEYS, settings.OPSDUTY_SLACK_SIGNING_SECRET)
    secret_register(settings.OPSDUTY_SLACK_CLIENT_SECRET)


def _connect_model_hooks() -> None:
    """Register the secrets of rows as they are saved (the factories' and the app's alike)."""
    from django.db.models.signals import pre_save
    from oauth2_provider.models import AccessToken, Application, RefreshToken

    from escalations.models import CalendarFeed
    from integrations.slack.models import SlackWorkspace
    from integrations.sso.models import SsoSettings
    from integrations.twilio.models import PhoneVerification, TwilioAccount
    from opsduty.models import User
    from signals.models import Heartbeat, Webhook
    from statuspages.models import StatusPage

    fields: dict[type[Any], Iterable[str]] = {
        Webhook: ["key"],
        Heartbeat: ["public_primary_key"],
        CalendarFeed: ["token"],
        TwilioAccount: ["auth_token"],
        SlackWorkspace: ["bot_token"],
        User: ["phone_number"],
        PhoneVerification: ["phone_number"],
        AccessToken: ["_raw_token", "token"],
        RefreshToken: ["_raw_token", "token"],
        Application: ["client_secret"],
        SsoSettings: ["google_client_secret"],
        StatusPage: ["access_secret"],
    }

    def make_receiver(names: Iterable[str]) -> Any:
        def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
            secret_register(*(getattr(instance, name, "") for name in names))

        return receiver

    for model, names in fields.items():
        # weak=False: the receivers are closures that nothing else holds.
        pre_save.connect(make_receiver(names), sender=model, weak=False)


def pytest_configure(config: pytest.Config) -> None:
    global _recorder  # noqa: PLW0603 - one recorder per test run
    handle, name = tempfile.mkstemp(prefix="opsduty-test-logs-", suffix=".log")
    os.close(handle)
    _recorder = LogRecorder(Path(name))
    _attach()
    _register_deployment_secrets()
    _connect_model_hooks()


@pytest.fixture(autouse=True)
def _log_recorder_attached() -> Iterator[None]:
    _attach()
    yield
    _attach()


def leaks(source: LogRecorder | None = None) -> list[tuple[str, str]]:
    """(secret shown masked, the log line) for every log line that names a secret."""
    found: list[tuple[str, str]] = []
    secrets = sorted(_secrets, key=len, reverse=True)
    for line in (source or recorder()).lines():
        for secret in secrets:
            if secret in line:
                masked = f"{secret[:3]}…({len(secret)} characters)"  # noqa: RUF001
                found.append((masked, line.rstrip().replace(secret, "<SECRET>")))
                break
    return found


_from_workers: list[tuple[str, str]] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist, in the controller: what a test process found in its own logs."""
    _from_workers.extend(tuple(pair) for pair in node.workeroutput.get("log_leaks", []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _recorder is None:
        return
    found = leaks()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        # A pytest-xdist test process: the controller reports (pytest_testnodedown).
        workeroutput["log_leaks"] = found[:50]
    else:
        found += _from_workers
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if found:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            if reporter is not None:
                reporter.write_sep("=", f"{len(found)} log line(s) name a secret", red=True)
                for masked, line in found[:50]:
                    reporter.write_line(f"{masked}: {line[:400]}")
        elif reporter is not None:
            reporter.write_line(f"log scan: no secret of {len(_secrets)} registered in the logs")
    _recorder.finish()
    _recorder.path.unlink(missing_ok=True)
