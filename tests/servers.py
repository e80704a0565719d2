"""Start the real bot (action server, Rasa, web app) on free loopback ports for tests.

Uses the same launcher code as ``faqbot run``: same commands, same environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.cli.rasa_model import ensure_model
from bot.cli.run import supervisor_for
from bot.handoff.store import HandoffStore
from bot.kb.loader import load_knowledge_base
from bot.rasa.client import RasaClient, RasaUnavailable
from bot.retrieval.index import build_index
from bot.services import Services
from bot.settings import PROJECT_ROOT, Settings, from_env
from bot.storage.accounts import UserStore
from bot.supervisor import Supervisor


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


WEBHOOK_SECRET = "integration-webhook-secret"


class QuietHandler(BaseHTTPRequestHandler):
    """http.server's handler without its access log on stderr."""

    def log_message(self, *args: Any) -> None:
        pass


class LoopbackServer:
    """A threaded HTTP server on a free loopback port, serving ``handler`` until ``close``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.handler = handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = int(self.server.server_address[1])
        self.origin = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()

    def down(self) -> None:
        """Stop answering: connections to the port are refused until ``up``."""
        self.server.shutdown()
        self.server.server_close()

    def up(self) -> None:
        """Serve again on the same port."""
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class WebhookReceiver(LoopbackServer):
    """A helpdesk stand-in on loopback: records every webhook request it gets."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        received = self.requests

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append({"headers": dict(self.headers), "body": body, "packet": json.loads(body)})
                self.send_response(204)
                self.end_headers()

        super().__init__(Handler)
        self.url = f"{self.origin}/hook"

    def packets(self, ticket_number: str) -> list[dict[str, Any]]:
        return [r["packet"] for r in self.requests if r["packet"]["ticket"]["number"] == ticket_number]


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps every email it accepts.

    ``reject`` maps a recipient to the reply its ``RCPT TO`` gets (e.g. ``"550 5.1.1 no such user"``);
    ``data_reply``, when set, is the answer to every message instead of accepting it; ``credentials``
    (username, password) turns on AUTH; ``tls`` (a server context) offers STARTTLS, ``implicit_tls``
    speaks TLS from the start. ``down``/``up`` close and reopen the same port.
    """

    def __init__(
        self,
        credentials: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        delay: float = 0.0,
    ) -> None:
        self.port = free_port()
        self.messages: list[dict[str, Any]] = []
        self.reject: dict[str, str] = {}
        self.data_reply: str | None = None
        self.logins: list[tuple[str, bool]] = []
        self.credentials = credentials
        self.delay = delay
        self._tls, self._implicit_tls = tls, implicit_tls
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self.up()

    def up(self) -> None:
        sink = self

        class Handler:
            async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
                reply = sink.reject.get(address.lower())
                if reply:
                    return reply
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                if sink.delay:
                    await asyncio.sleep(sink.delay)
                if sink.data_reply:
                    return sink.data_reply
                raw = envelope.original_content or envelope.content
                with sink._lock:
                    sink.messages.append({
                        "mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos), "raw": raw,
                        "message": email.message_from_bytes(raw, policy=email.policy.default),
                        "tls": session.ssl is not None, "authenticated": bool(session.authenticated),
                    })  # fmt: skip
                return "250 Message accepted for delivery"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and sink.credentials is not None and (
                data.login.decode(), data.password.decode()) == sink.credentials  # fmt: skip
            sink.logins.append((data.login.decode() if isinstance(data, LoginPassword) else "?", ok))
            return AuthResult(success=ok, handled=False)

        kwargs: dict[str, Any] = {}
        if self.credentials is not None:
            # aiosmtpd tells only a STARTTLS session that it is encrypted: require TLS for AUTH there.
            kwargs.update(authenticator=authenticate, auth_require_tls=self._tls is not None)
        if self._tls is not None:
            kwargs.update(tls_context=self._tls)
        if self._implicit_tls is not None:
            kwargs.update(ssl_context=self._implicit_tls)
        controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, ready_timeout=10, **kwargs)
        controller.start()
        self._controller = controller

    def down(self) -> None:
        """Close the port: connections are refused until ``up``."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return [m["message"] for m in self.messages]

    def for_ticket(self, number: str) -> list[EmailMessage]:
        return [m for m in self.received() if m["X-Faqbot-Ticket"] == number]


class HostSite(LoopbackServer):
    """Somebody else's website on loopback (another origin than the web app) that embeds the widget.

    ``page(name, html)`` publishes a page at ``/<name>``; ``url(name)`` is its address.
    """

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                html = pages.get(self.path.split("?")[0].lstrip("/"))
                body = (html or "not found").encode("utf-8")
                self.send_response(200 if html is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)

    def page(self, name: str, html: str) -> str:
        self.pages[name] = html
        return self.url(name)

    def url(self, name: str) -> str:
        return f"{self.origin}/{name}"


class TcpProxy:
    """A TCP relay on loopback to ``target_port``, whose "network" a test can cut (``stop``) and restore
    (``start``, same port): every connection through it drops at once, as when a customer's Wi-Fi goes."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        for sock in ([listener] if listener else []) + connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class RedisServer:
    """A real ``redis-server`` (from the OS packages; the bootstrap installs it) on a free loopback port, in
    memory only, under ``folder``. ``down`` kills it (SIGKILL, as a crash would) and ``up`` starts it again
    on the same port, empty."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def up(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run 'make install-dev' (scripts/bootstrap.sh)")
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return self
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start; see {self.folder / 'redis.log'}")

    def down(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class PostgresServer:
    """A real PostgreSQL (the OS's binaries; the bootstrap installs them when missing) with its own data folder,
    on a free loopback port, user and database ``faqbot``. PostgreSQL refuses to run as root, so as root the
    server runs as the ``postgres`` OS user, in a folder of its own under /tmp. ``down`` stops it the way a
    crash would (immediate), ``up`` starts it again on the same port with its data."""

    USER = "faqbot"
    PASSWORD = "faqbot-test-password"

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
        if not found:
            raise RuntimeError("PostgreSQL is not installed: run 'make install-dev' (scripts/bootstrap.sh)")
        self.bin = found[-1].parent
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="faqbot-pg-"))
        self.data = self.folder / "data"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://{self.USER}:{self.PASSWORD}@127.0.0.1:{self.port}/faqbot"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        env = {**os.environ, "PGPASSWORD": self.PASSWORD}
        subprocess.run([*prefix, *command], check=True, capture_output=True, env=env, cwd=self.folder)

    def up(self) -> PostgresServer:
        if not self.data.exists():
            (self.folder / "pw").write_text(self.PASSWORD, "utf-8")
            if self.as_root:
                shutil.chown(self.folder / "pw", "postgres", "postgres")
            password_file = str(self.folder / "pw")
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.USER, "--pwfile", password_file,
                      "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync")  # fmt: skip
            fresh = True
        else:
            fresh = False
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                  "-w", "-t", "60", "start")  # fmt: skip
        if fresh:
            self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, "faqbot")
        return self

    def down(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.down()
        shutil.rmtree(self.folder, ignore_errors=True)


class RunningBot:
    """The three services of one test session (under faqbot's own supervisor), and helpers to talk to them."""

    def __init__(
        self,
        settings: Settings,
        supervisor: Supervisor,
        webhook: WebhookReceiver,
        host_site: HostSite,
        mailbox: SmtpSink,
    ) -> None:
        self.settings = settings
        self.supervisor = supervisor
        self.logs = supervisor.logs
        self.webhook = webhook
        self.host_site = host_site
        self.mailbox = mailbox

    def pid(self, name: str) -> int | None:
        """The process id of service ``name`` while it runs."""
        process = self.supervisor.runs[name].process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    def say(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Send a message through Rasa's REST channel; returns the bot's replies."""
        payload: dict[str, Any] = {"sender": sender, "message": text}
        if metadata:
            payload["metadata"] = metadata
        response = requests.post(f"{self.settings.rasa_url}/webhooks/rest/webhook", json=payload, timeout=60)
        response.raise_for_status()
        return response.json()

    def rasa(self, timeout: float = 30) -> RasaClient:
        """Rasa's HTTP API as the web app calls it (a JWT in the Authorization header)."""
        return RasaClient(self.settings.rasa_url, self.settings.rasa_token, timeout=timeout)

    def tracker(self, sender: str) -> dict[str, Any]:
        return self.rasa().tracker(sender)

    def bot_events(self, sender: str) -> list[dict[str, Any]]:
        return [e for e in self.tracker(sender)["events"] if e["event"] == "bot"]

    def store(self) -> HandoffStore:
        return HandoffStore(self.settings.database_path)

    def add_user(self, username: str, password: str, role: str = "agent", name: str = "") -> None:
        users = UserStore(self.settings.database_path)
        existing = users.get(username)
        if existing is None:
            users.add(username, password, role=role, display_name=name)
            return
        # The bot is shared by the session's tests: a name another test made with another password or role is
        # a clash to rename, not a sign-in to fail later for no visible reason.
        assert existing.role == role and users.authenticate(username, password) is not None, (
            f"desk user {username!r} was made by another test with another password or role: use another name"
        )

    def desk_session(self, username: str, password: str, role: str = "agent") -> requests.Session:
        """An agent (or ``role``) signed in to the desk (created when missing, named "<Username> Agent"),
        with the CSRF header every POST needs."""
        self.add_user(username, password, role=role, name=username.title() + " Agent")
        session = requests.Session()
        page = session.get(f"{self.web_url}/login", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page[:300]
        response = session.post(
            f"{self.web_url}/login",
            data={"username": username, "password": password, "csrf_token": token.group(1)},
            timeout=10,
        )
        assert response.ok and "/login" not in response.url, "sign-in failed"
        desk = re.search(r'name="csrf-token" content="([^"]+)"', session.get(f"{self.web_url}/desk/", timeout=10).text)
        assert desk, "no CSRF token on the desk"
        session.headers["X-CSRF-Token"] = desk.group(1)
        return session

    def wait_for(self, condition: Any, timeout: float = 30.0, what: str = "condition") -> Any:
        """Poll ``condition()`` until it returns something truthy; fail with the logs after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n--- web log ---\n{self.log_tail('web')}")

    def alive(self) -> bool:
        return all(self.pid(name) is not None for name in self.supervisor.runs)

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def wait_for_model(bot: RunningBot, timeout: float = 120.0) -> None:
    """Rasa answers "/" before its model is loaded: wait until its /status names one."""
    deadline, problem = time.monotonic() + timeout, "no model yet"
    while time.monotonic() < deadline:
        try:
            if bot.rasa(timeout=10).status().get("model_file"):
                return
        except RasaUnavailable as error:  # e.g. a JWT Rasa does not accept: say so below
            problem = str(error)
        time.sleep(0.5)
    raise RuntimeError(f"Rasa's /status never named a model ({problem}):\n{bot.log_tail('rasa')}")


@contextlib.contextmanager
def running_bot(var_dir: Path, **changes: Any) -> Iterator[RunningBot]:
    """Build the real index, train (or reuse) the Rasa model, start all three services.

    ``changes`` override the test settings (e.g. ``relay_interval=1.0``).
    """
    base = from_env({})
    webhook = WebhookReceiver()
    host_site = HostSite()
    mailbox = SmtpSink()
    settings = base.replace(
        widget_origins=(host_site.origin,),
        business_hours="24/7",
        webhook_url=webhook.url,
        webhook_secret=WEBHOOK_SECRET,
        relay_interval=0.3,
        handoff_retry_interval=1.0,
        secret_key="integration-secret-key",
        var_dir=var_dir,
        rasa_port=free_port(),
        action_port=free_port(),
        web_port=free_port(),
        api_token="integration-api-token",
        rasa_token="integration-rasa-token-0123456789abcdef",  # 32+ bytes: an HS256 key
        # Every test posts from 127.0.0.1: no per-address limit, unless a test asks for one (``changes``).
        rest_rate_limit=(0, 0.0),
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="none",
        smtp_from="Larkspur help <help@larkspur.example>",
        smtp_reply_to="support@larkspur.example",
        smtp_timeout=5.0,
        smtp_health_seconds=0.0,  # /healthz checks the mailbox each time (tests stop it and expect a 503 at once)
    )
    # The bot serves a copy of the KB, so editor tests never touch the repository's knowledge_base/.
    kb_copy = var_dir / "knowledge_base"
    if not kb_copy.exists():
        shutil.copytree(base.kb_dir, kb_copy, ignore=shutil.ignore_patterns("drafts"))
    settings = settings.replace(kb_dir=kb_copy, **changes)
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    assert not kb.errors, kb.errors
    build_index(kb, Services(settings).embedder, settings.index_dir, settings.ranking)
    model = ensure_model(settings.replace(home=PROJECT_ROOT))
    assert model is not None, "rasa train failed"
    supervisor = supervisor_for(settings, model)
    keeper = threading.Thread(target=supervisor.supervise, name="test-supervisor", daemon=True)
    try:
        supervisor.start()
        bot = RunningBot(settings, supervisor, webhook, host_site, mailbox)
        not_ready = supervisor.wait_ready(300)
        if not_ready:
            raise RuntimeError("did not start:\n" + "\n".join(f"{n}:\n{bot.log_tail(n)}" for n in not_ready))
        wait_for_model(bot)
        keeper.start()  # from here on the supervisor restarts a service that dies, as under `faqbot run`
        yield bot
    finally:
        supervisor.stop()
        keeper.join(timeout=5)
        webhook.close()
        host_site.close()
        mailbox.down()
