"""Every shell example of the documentation runs against a live server (docs/README.md).

One test per page: a fresh database with the demo organization (`seed_demo --no-history`: ids
from 1, as the pages' examples show them), the web app as `make run` serves it (uvicorn,
`opsduty.asgi`), a Celery worker, and the owner's API token. Each marked block then runs in
order, in `bash` with `set -euo pipefail`, from a scratch directory that has the checkout's
`manage.py`, `.venv` and `tests`, with

    OPSDUTY_URL    the server, e.g. http://127.0.0.1:41234; it also replaces the address of
                   `make run`, http://127.0.0.1:8000, where an example names it
    OPSDUTY_TOKEN  an API token of owner@demo.example

and the test database and Redis in DATABASE_URL / REDIS_URL. A block must exit 0 and print
every `expect=` text of its marker (which the block itself shows as its output).
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from opsduty import services
from opsduty.models import User
from tests.celery_workers import worker_database_url
from tests.docs.examples import ROOT, Block, blocks, documentation_pages, runnable

pytestmark = pytest.mark.worker

# The address of `make run` in the examples; the test's own server stands in for it.
DEV_URL = "http://127.0.0.1:8000"
PAGES = [page for page in documentation_pages() if runnable(page)]
BLOCK_TIMEOUT = 120  # seconds; only stops a hanging example


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_every_shell_example_is_marked() -> None:
    unmarked = [
        block.where
        for page in documentation_pages()
        for block in blocks(page)
        if block.needs_marker and block.marker is None
    ]
    assert not unmarked, (
        f"mark these with <!-- doc-test --> or <!-- no-doc-test: why -->: {unmarked}"
    )


def test_every_skipped_example_says_why() -> None:
    silent = [
        block.where
        for page in documentation_pages()
        for block in blocks(page)
        if block.marker == "no-doc-test" and len(block.reason) < 10
    ]
    assert not silent, f"give these no-doc-test markers a reason: {silent}"


def test_every_expectation_is_shown_in_its_example() -> None:
    unshown = [
        (block.where, text)
        for page in PAGES
        for block in runnable(page)
        for text in block.expect
        if text not in block.text
    ]
    assert not unshown, f"an expect= text must appear in the example it checks: {unshown}"


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A working directory with the checkout's `manage.py`, `.venv` and `tests` (fixtures),
    for the files examples write."""
    for name in ("manage.py", ".venv", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def _environment(server: str, token: str) -> dict[str, str]:
    # The PATH of a shell in a fresh checkout: examples call `.venv/bin/...` by its path.
    keep = {"HOME", "LANG", "LC_ALL", "TMPDIR", "OPSDUTY_SECRET_KEY"}
    path = os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if not entry.startswith(str(ROOT))
    )
    return {
        **{name: value for name, value in os.environ.items() if name in keep},
        "PATH": path,
        "DATABASE_URL": worker_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "OPSDUTY_DEBUG": "0",
        "OPSDUTY_URL": server,
        "OPSDUTY_TOKEN": token,
    }


def _run(block: Block, cwd: Path, env: dict[str, str]) -> str:
    script = "set -euo pipefail\n" + block.text.replace(DEV_URL, env["OPSDUTY_URL"])
    result = subprocess.run(  # noqa: S603 - the documentation's own examples
        ["/bin/bash", "-c", script],  # noqa: S607
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{block.where} exited {result.returncode}:\n{output}"
    for text in block.expect:
        assert text in result.stdout, f"{block.where} did not print {text!r}:\n{output}"
    return output


@pytest.fixture
def demo(django_db_reset_sequences: None) -> Iterator[str]:
    """The demo organization without its history (ids from 1); the owner's API token."""
    call_command("seed_demo", "--no-history", stdout=io.StringIO())
    owner = User.objects.get(email="owner@demo.example")
    yield services.api_token_create(user=owner, name="docs")


@pytest.mark.parametrize("doc", PAGES, ids=_id)
def test_the_examples_of_a_page_run(
    doc: Path, demo: str, asgi_server: str, celery_worker: object, scratch: Path
) -> None:
    env = _environment(asgi_server, demo)
    for block in runnable(doc):
        _run(block, scratch, env)
