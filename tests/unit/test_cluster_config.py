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


def test_the_banner_waits_until_requests_through_haproxy_reach_every_backend(tmp_path: Path) -> None:
    """`faqbot cluster` said "running" once each replica answered on its own port, but HAProxy marks a replica
    up only at its next check: a customer's first message could get 503 "no server is available" (seen in CI).
    ``unbalanced`` names the backends a request through HAProxy does not reach yet; once it names none, the
    first request through it is served."""
    import threading
    import time
    import urllib.request
    from http.server import ThreadingHTTPServer

    from bot.cli.cluster import free_port, unbalanced
    from tests.servers import QuietHandler

    class Replica(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = do_GET  # noqa: N815

    settings = from_env({}).replace(rasa_port=free_port("127.0.0.1"), action_port=free_port("127.0.0.1"),
                                    web_port=free_port("127.0.0.1"))  # fmt: skip
    replica = settings.replace(rasa_port=free_port("127.0.0.1"), action_port=free_port("127.0.0.1"),
                               web_port=free_port("127.0.0.1"))  # fmt: skip
    path = tmp_path / "haproxy.cfg"
    path.write_text(haproxy_config(settings, [replica]), "utf-8")
    haproxy = subprocess.Popen([shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", str(path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    servers: list[ThreadingHTTPServer] = []
    try:
        missing = unbalanced(settings, timeout=1.0)
        deadline = time.monotonic() + 10
        while missing() != ["rasa", "actions", "web"]:  # HAProxy up, no replica yet: 503 from each backend
            assert time.monotonic() < deadline, missing()
            time.sleep(0.1)
        for port in (replica.rasa_port, replica.action_port, replica.web_port):
            servers.append(ThreadingHTTPServer(("127.0.0.1", port), Replica))
            threading.Thread(target=servers[-1].serve_forever, daemon=True).start()
        deadline = time.monotonic() + 15
        while missing():
            assert time.monotonic() < deadline, missing()
            time.sleep(0.05)
        request = urllib.request.Request(f"{settings.rasa_url}/webhooks/rest/webhook", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    finally:
        haproxy.kill()
        haproxy.wait()
        for server in servers:
            server.shutdown()
            server.server_close()
