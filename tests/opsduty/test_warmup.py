"""Worker warm-up does the first task's one-off work up front (opsduty/warmup.py)."""

from __future__ import annotations

import sys

from processing.channels.builtin_templates import BUILTIN_TEMPLATES
from processing.sandbox import environment as sandbox


def test_main_process_warm_up_imports_the_hot_path_and_compiles_builtin_templates() -> None:
    from opsduty.warmup import HOT_MODULES, worker_main_warm_up

    sandbox._compile.cache_clear()
    worker_main_warm_up()
    assert all(name in sys.modules for name in HOT_MODULES)
    sources = {
        source for fields in BUILTIN_TEMPLATES.values() for source in fields.values() if source
    }
    assert sandbox._compile.cache_info().currsize == len(sources)
    misses = sandbox._compile.cache_info().misses
    for source in sources:  # what the first event renders is compiled already
        sandbox.template_check(source)
    assert sandbox._compile.cache_info().misses == misses


def test_a_web_process_freezes_what_start_up_made() -> None:
    """Importing the server's entry points leaves start-up's objects frozen (gc.freeze):
    a full collection no longer walks them (the incident list's p99 at 100,000 incidents)."""
    import os
    import subprocess

    probe = "import gc, opsduty.asgi; print(gc.get_freeze_count())"
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "opsduty.settings"},
        check=True,
    )
    assert int(done.stdout.strip().splitlines()[-1]) > 50_000
