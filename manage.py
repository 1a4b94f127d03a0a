#!/usr/bin/env python
"""Django's command-line utility."""

import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsduty.settings")
    from opsduty.env import dev_env_load

    # The servers `make run` / `make services` started (bin/dev writes the file); variables
    # already set win.
    dev_env_load(Path(__file__).resolve().parent / ".run" / "dev" / "env")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
