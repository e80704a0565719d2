"""``faqbot serve``, as a container runs it (deploy/): ``prepare`` once, then each service in the foreground
as its own process (exec'd: the process the orchestrator started *is* the service), answering a customer; a
replica refuses to start, naming what is missing, before ``prepare`` ran."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.cli.run import child_env
from bot.cli.serve import missing
from bot.settings import Settings, from_env
from tests.servers import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def container_settings(var: Path) -> Settings:
    # As on a new volume: no KB yet (prepare copies the project's), and an empty var/.
    return from_env({}).replace(
        var_dir=var,
        kb_dir=var.parent / "volume" / "knowledge_base",
        rasa_port=free_port(),
        action_port=free_port(),
        web_port=free_port(),
        rest_rate_limit=(0, 0.0),
        business_hours="24/7",
    )


def faqbot(settings: Settings, *args: str, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, **child_env(settings)}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env, text=True, **popen
    )


def wait_until(url: str, process: subprocess.Popen[str], timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args} exited with {process.returncode}"
        try:
            if requests.get(url, timeout=5).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} never answered")


def test_a_replica_before_prepare_names_what_is_missing(tmp_path: Path) -> None:
    settings = container_settings(tmp_path / "var").replace(api_token="", rasa_token="", secret_key="")
    done = faqbot(settings, "serve", "web", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 2, out + err
    assert "missing the tokens: set FAQBOT_API_TOKEN" in err  # never a secret the other replicas lack
    assert not (settings.var_dir / "secrets.json").exists()
    # Rasa without its model (a copy of the project with no models/): named, with the command that makes it.
    home = tmp_path / "home"
    shutil.copytree(ROOT / "data", home / "data")
    for name in ("config.yml", "domain.yml"):
        shutil.copy(ROOT / name, home / name)
    (problem,) = missing(settings.replace(home=home, api_token="a", rasa_token="b", secret_key="c"), "rasa")
    assert problem.startswith("the Rasa model faqbot-") and "faqbot serve prepare" in problem


def test_prepare_once_then_each_service_in_its_own_foreground_process(tmp_path: Path) -> None:
    settings = container_settings(tmp_path / "var")
    prepared = faqbot(settings.replace(api_token="", rasa_token="", secret_key=""), "serve", "prepare",
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    out, _ = prepared.communicate(timeout=900)
    assert prepared.returncode == 0, out
    assert "prepared: the index is built" in out and "desk user 'admin' created" in out
    assert "copied the project's knowledge base" in out and (settings.kb_dir / "en").is_dir()
    assert (settings.var_dir / "secrets.json").exists()  # the tokens every replica reads from the shared var/

    logs = tmp_path / "logs"
    logs.mkdir()
    # The replicas get no token from the environment: they read prepare's (as from a shared volume).
    replica = settings.replace(api_token="", rasa_token="", secret_key="")
    started: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in ("actions", "rasa", "web"):
            log = (logs / f"{name}.log").open("w")
            started[name] = faqbot(replica, "serve", name, stdout=log, stderr=subprocess.STDOUT)
        wait_until(f"{settings.action_server_url}/health", started["actions"])
        wait_until(f"http://{settings.host}:{settings.web_port}/login", started["web"])
        wait_until(f"{settings.rasa_url}/", started["rasa"])
        # exec: the process the orchestrator started is the service itself (its signals, its exit status)
        cmdline = Path(f"/proc/{started['rasa'].pid}/cmdline").read_bytes().split(b"\0")
        assert b"channels.serve" in cmdline and b"bot.cli" not in cmdline

        deadline, replies = time.monotonic() + 180, []
        while time.monotonic() < deadline and not replies:
            response = requests.post(
                f"{settings.rasa_url}/webhooks/rest/webhook",
                json={"sender": "container-1", "message": "how do I return something?"},
                timeout=60,
            )
            replies = response.json() if response.ok else []
            time.sleep(0 if replies else 1)  # Rasa answers "/" a moment before its model is loaded
        assert any("return" in reply.get("text", "").lower() for reply in replies), replies
    finally:
        for process in started.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in started.items():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail(f"{name} did not stop on SIGTERM:\n{(logs / f'{name}.log').read_text()[-3000:]}")
