"""`python manage.py ...` finds the development servers in a new shell (opsduty/env.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opsduty.env import dev_env_load

ROOT = Path(__file__).resolve().parents[2]


def test_the_env_file_fills_in_missing_variables_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / "env"
    env.write_text("OPSDUTY_TEST_A=from-file\nOPSDUTY_TEST_B=from-file\n# comment\nnot a pair\n")
    monkeypatch.setenv("OPSDUTY_TEST_B", "from-shell")
    monkeypatch.delenv("OPSDUTY_TEST_A", raising=False)
    assert dev_env_load(env) is True
    assert os.environ["OPSDUTY_TEST_A"] == "from-file"
    assert os.environ["OPSDUTY_TEST_B"] == "from-shell"
    monkeypatch.delenv("OPSDUTY_TEST_A")


def test_no_file_changes_nothing(tmp_path: Path) -> None:
    assert dev_env_load(tmp_path / "missing") is False


def test_manage_py_in_a_bare_shell_reaches_the_database_through_the_file(
    tmp_path: Path,
) -> None:
    """A copy of manage.py whose .run/dev/env names the test servers: `check --database`
    connects with nothing exported (the README's commands work as printed)."""
    (tmp_path / ".run" / "dev").mkdir(parents=True)
    (tmp_path / ".run" / "dev" / "env").write_text(
        f"DATABASE_URL={os.environ['DATABASE_URL']}\nREDIS_URL={os.environ['REDIS_URL']}\n"
        f"OPSDUTY_SECRET_KEY=test-key\nOPSDUTY_DEBUG=1\n"
    )
    (tmp_path / "manage.py").write_text((ROOT / "manage.py").read_text())
    bare = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    done = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, str(tmp_path / "manage.py"), "check", "--database", "default"],
        env=bare,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout
