"""The layer rules of pyproject.toml's import-linter contracts hold (docs/architecture.md).

``make lint`` runs ``lint-imports`` too; this test makes the suite itself fail on an upward import. It runs
in its own process: import-linter configures logging, which would silence the loggers of later tests.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from bot.settings import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
OURS = ("bot", "actions", "channels")


def test_every_import_linter_contract_is_kept():
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_module_imports_another_modules_private_names():
    """What another module needs is public: named without a leading underscore (import-linter cannot check it)."""
    offenders = []
    for folder in ("bot", "actions", "channels"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in OURS):
                    private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                    if private:
                        offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.module}: {private}")
    assert offenders == []
