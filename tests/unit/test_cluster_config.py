"""bot/cli/cluster.py: the HAProxy configuration it writes is valid for HAProxy itself and routes as documented."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bot.cli.cluster import haproxy_config
from bot.settings import from_env


def test_haproxy_accepts_the_configuration_and_it_checks_and_sticks_as_documented(tmp_path: Path) -> None:
    settings = from_env({}).replace(rasa_port=15005, action_port=15055, web_port=18000)
    replicas = [settings.replace(rasa_port=20000 + i, action_port=21000 + i, web_port=22000 + i) for i in (1, 2)]
    text = haproxy_config(settings, replicas)
    path = tmp_path / "haproxy.cfg"
    path.write_text(text, "utf-8")
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        pytest.fail("haproxy is not installed: run 'make install-dev' (scripts/bootstrap.sh)")
    checked = subprocess.run([haproxy, "-c", "-f", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "bind 127.0.0.1:15005" in text and "bind 127.0.0.1:18000" in text
    for port in (20001, 20002, 21001, 21002, 22001, 22002):
        assert f"127.0.0.1:{port} check" in text
    assert "option httpchk GET /ready" in text  # Rasa: only once its model is loaded
    assert "cookie FAQBOT_RASA insert" in text  # socket.io long-polling stays on one replica
    assert "retry-on conn-failure" in text and "http-reuse never" in text
    assert "option forwardfor" in text  # the replicas see each customer's address, not HAProxy's
