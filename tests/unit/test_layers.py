"""The layer rules of pyproject.toml's import-linter contracts hold (docs/architecture.md).

``make lint`` runs ``lint-imports`` too; this test makes the suite itself fail on an upward import. It runs
in its own process: import-linter configures logging, which would silence the loggers of later tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.settings import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_every_import_linter_contract_is_kept():
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
