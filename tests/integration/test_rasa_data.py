"""Rasa's own checks on config, domain and training data (as RasaHQ/rasa-demo's CI runs them)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_rasa_data_validate_passes():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "data",
            "validate",
            "--domain",
            "domain.yml",
            "--data",
            "data",
            "--config",
            "config.yml",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_every_response_speaks_every_language():
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    for name, variations in domain["responses"].items():
        languages = {c["value"] for v in variations for c in (v.get("condition") or []) if c.get("name") == "language"}
        defaults = [v for v in variations if not v.get("condition")]
        assert languages == {"ar", "ru"} and len(defaults) == 1, name


def test_endpoints_expand_the_launcher_environment(monkeypatch):
    """Rasa expands ${VAR} only in unquoted YAML scalars; a quoted one became a file named after it."""
    from rasa.utils.endpoints import read_endpoint_config

    monkeypatch.setenv("FAQBOT_ACTION_ENDPOINT", "http://127.0.0.1:5999/webhook")
    monkeypatch.setenv("FAQBOT_TRACKER_DB", "/tmp/tracker.db")
    path = str(PROJECT_ROOT / "endpoints.yml")
    assert read_endpoint_config(path, "action_endpoint").url == "http://127.0.0.1:5999/webhook"
    assert read_endpoint_config(path, "tracker_store").kwargs["db"] == "/tmp/tracker.db"
