"""Train the Rasa model only when its inputs changed (content hash of config, domain, data)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from bot.settings import Settings

MODEL_PREFIX = "faqbot-"


#: faqbot's own pipeline components (config.yml names them): their code is part of what a model is trained by.
COMPONENTS = ("channels/intent_classifier.py",)


def training_inputs(home: Path) -> list[Path]:
    files = [home / "config.yml", home / "domain.yml"]
    files += [home / name for name in COMPONENTS if (home / name).is_file()]
    files += sorted(p for p in (home / "data").rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml"))
    return files


def inputs_hash(home: Path) -> str:
    """A hash of every file Rasa trains on, by path and content."""
    digest = hashlib.sha256()
    for path in training_inputs(home):
        digest.update(str(path.relative_to(home)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_path(settings: Settings) -> Path:
    return settings.models_dir / f"{MODEL_PREFIX}{inputs_hash(settings.home)}.tar.gz"


def rasa_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rasa", *args]


def rasa_env(settings: Settings) -> dict[str, str]:
    """The environment Rasa processes get: endpoints.yml reads these."""
    env = dict(os.environ)
    env["FAQBOT_ACTION_ENDPOINT"] = f"{settings.action_server_url}/webhook"
    env["FAQBOT_TRACKER_DB"] = str(settings.var_dir / "rasa_tracker.db")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def ensure_model(settings: Settings, force: bool = False) -> Path | None:
    """The trained model for the current inputs, training it first if needed."""
    target = model_path(settings)
    if target.exists() and not force:
        print(f"Rasa model is up to date: {target.relative_to(settings.home)}")
        return target
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    print("training the Rasa model (inputs changed)...", flush=True)
    started = time.perf_counter()
    command = rasa_command(
        "train",
        "--config", str(settings.home / "config.yml"),
        "--domain", str(settings.home / "domain.yml"),
        "--data", str(settings.home / "data"),
        "--out", str(settings.models_dir),
        "--fixed-model-name", target.name[: -len(".tar.gz")],
    )  # fmt: skip
    result = subprocess.run(command, cwd=settings.home, env=rasa_env(settings))
    if result.returncode != 0 or not target.exists():
        print(f"rasa train failed (exit {result.returncode})", file=sys.stderr)
        return None
    print(f"trained {target.name} in {time.perf_counter() - started:.0f}s", flush=True)
    for old in settings.models_dir.glob(f"{MODEL_PREFIX}*.tar.gz"):
        if old != target:
            old.unlink(missing_ok=True)
    return target
