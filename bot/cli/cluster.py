"""``faqbot cluster``: the scale-out topology on one machine, behind HAProxy (docs/scaling.md).

What ``faqbot run`` starts, ``--replicas`` times (2 by default), behind a
real load balancer, with the shared state where several replicas need it:

- **Redis** (``FAQBOT_REDIS_URL``, or a ``redis-server`` started here under
  var/cluster/redis, on loopback, in memory): the race-free conversation
  lock store and socket.io across the Rasa replicas, the web replicas'
  singleton leases (relay, outbox, KB watcher);
- **HAProxy** (var/cluster/haproxy.cfg, written here): the public Rasa,
  action-server and web ports of the settings (5005, 5055, 8000) spread over
  the replicas, with health checks (Rasa's ``/ready``: its model loaded, the action server's
  ``/health``, the web app's sign-in page: ``/healthz`` answers 503 when a
  dependency such as SMTP is down, which is no reason to stop sending it
  customers), a cookie that keeps a widget's socket.io session on one Rasa
  replica, and a retry on another replica when one refuses a connection;
- **replicas** of the Rasa server, the action server and the web app on
  free loopback ports, each restarted by the supervisor when it dies.

Conversations stay in Rasa's SQLite tracker file shared by the replicas
(WAL) unless ``FAQBOT_TRACKER_URL`` names a database (PostgreSQL); faqbot's
own tables (tickets, outbox, desk users and sessions, votes, surveys) stay in
var/faqbot.db unless ``FAQBOT_DATABASE_URL`` names a PostgreSQL database,
which every replica then shares (it may be the tracker's database: the
table names differ). The schema is brought up to date once, before the
replicas start (``prepare``). Every process writes its log to var/logs/;
Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bot.cli.run import child_env, prepare, readiness_urls, serve, service_commands
from bot.errors import ConfigError
from bot.services import Services
from bot.settings import Settings
from bot.storage.database import Database
from bot.supervisor import Service, Supervisor

#: How often HAProxy checks each replica, and how many failed checks take it out.
CHECK_INTERVAL = "1s"
CHECK_FALL = 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    cluster = commands.add_parser("cluster", help="Rasa, action server and web app replicas behind HAProxy")
    cluster.add_argument("--replicas", type=int, default=2, help="how many of each (default 2)")
    cluster.set_defaults(func=cmd_cluster)


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def haproxy_config(settings: Settings, replicas: list[Settings]) -> str:
    """HAProxy's configuration: the public ports of ``settings`` in front of the ``replicas``' ports."""
    host = settings.host

    def backend(name: str, check: str, ports: list[int], sticky: bool = False) -> list[str]:
        lines = [f"backend {name}", "    balance roundrobin", f"    option httpchk GET {check}"]
        if sticky:  # engine.io's long-polling needs every request of a session on the replica that opened it
            lines.append(f"    cookie FAQBOT_{name.upper()} insert indirect nocache httponly")
        for index, port in enumerate(ports, 1):
            cookie = f" cookie {name[0]}{index}" if sticky else ""
            lines.append(
                f"    server {name}-{index} {host}:{port} check inter {CHECK_INTERVAL} fall {CHECK_FALL} rise 1{cookie}"
            )
        return lines

    lines = [
        "# Written by `faqbot cluster` (bot/cli/cluster.py) at every start; edit that, not this.",
        "global",
        "    maxconn 4096",
        "    log stdout format raw local0",  # into var/logs/haproxy.log (the supervisor keeps its output)
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        # The replicas see HAProxy's address; they read the customer's from X-Forwarded-For (one more proxy hop:
        # FAQBOT_PROXY_HOPS for the web app, SANIC_PROXIES_COUNT for Rasa), so per-address limits stay per customer.
        "    option forwardfor",
        # A replica that refuses the connection (it died): the request goes to another one at once. Only
        # refused connections are retried: a request a replica may have processed is never sent twice.
        # New connections to the replicas (loopback, cheap): a dead replica's idle one would fail a POST
        # with 502 instead of being retried.
        "    http-reuse never",
        "    option redispatch 1",
        "    retries 2",
        "    retry-on conn-failure",
        "    timeout connect 5s",
        "    timeout client 120s",
        "    timeout server 120s",
        "    timeout tunnel 1h",
        "frontend rasa",
        f"    bind {host}:{settings.rasa_port}",
        "    default_backend rasa",
        *backend("rasa", CHECK_PATHS["rasa"], [r.rasa_port for r in replicas], sticky=True),
        "frontend actions",
        f"    bind {host}:{settings.action_port}",
        "    default_backend actions",
        *backend("actions", CHECK_PATHS["actions"], [r.action_port for r in replicas]),
        "frontend web",
        f"    bind {host}:{settings.web_port}",
        "    monitor-uri /haproxy-health",
        "    default_backend web",
        *backend("web", CHECK_PATHS["web"], [r.web_port for r in replicas], sticky=True),
    ]
    return "\n".join(lines) + "\n"


def cluster_services(settings: Settings, model: Path, replicas: int) -> tuple[list[Service], Settings]:
    """Redis (unless configured), HAProxy and ``replicas`` of each service, as the supervisor runs them, and the
    settings they share (with the Redis started here)."""
    if replicas < 1:
        raise ConfigError("--replicas must be 1 or more")
    folder = settings.var_dir / "cluster"
    folder.mkdir(parents=True, exist_ok=True)
    services: list[Service] = []
    if not settings.redis_url:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise ConfigError("redis-server is not installed (apt-get install redis-server), or set FAQBOT_REDIS_URL")
        port = free_port(settings.host)
        (folder / "redis").mkdir(exist_ok=True)
        command = [redis_server, "--bind", settings.host, "--port", str(port), "--save", "", "--appendonly", "no",
                   "--dir", str(folder / "redis")]  # fmt: skip
        services.append(Service("redis", command, f"tcp://{settings.host}:{port}"))
        settings = settings.replace(redis_url=f"redis://{settings.host}:{port}/0")
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if haproxy is None:
        raise ConfigError("haproxy is not installed (apt-get install haproxy)")
    copies = [
        settings.replace(rasa_port=free_port(settings.host), action_port=free_port(settings.host),
                         web_port=free_port(settings.host))
        for _ in range(replicas)
    ]  # fmt: skip
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(settings, copies), "utf-8")
    ready = f"http://{settings.host}:{settings.web_port}/haproxy-health"
    services.append(Service("haproxy", [haproxy, "-db", "-f", str(config)], ready))
    for index, replica in enumerate(copies, 1):
        # The supervisor's environment names the public (HAProxy) ports, through which the replicas reach
        # each other; each process only binds its own port.
        hops = str(settings.proxy_hops + 1)  # HAProxy is one more proxy in front of the replicas
        own = {
            "rasa": {"FAQBOT_RASA_PORT": str(replica.rasa_port), "SANIC_PROXIES_COUNT": hops},
            "actions": {},  # its port is on its command line
            "web": {"FAQBOT_WEB_PORT": str(replica.web_port), "FAQBOT_PROXY_HOPS": hops},
        }
        commands = service_commands(replica, model)
        for name, url in readiness_urls(replica).items():
            services.append(Service(f"{name}-{index}", commands[name], url, own[name]))
    return services, settings


#: The path HAProxy checks each backend's replicas on (``haproxy_config``).
CHECK_PATHS = {"rasa": "/ready", "actions": "/health", "web": "/login"}


def unbalanced(settings: Settings, timeout: float = 2.0) -> Callable[[], list[str]]:
    """The backends a request through HAProxy's public ports of ``settings`` does not reach yet (none: each
    answers through the load balancer). The replicas answer on their own ports before HAProxy's next check
    marks them up; the banner waits for that, so that "running" means a customer's first message is served."""
    urls = {
        "rasa": f"{settings.rasa_url}{CHECK_PATHS['rasa']}",
        "actions": f"{settings.action_server_url}{CHECK_PATHS['actions']}",
        "web": f"http://{settings.host}:{settings.web_port}{CHECK_PATHS['web']}",
    }

    def missing() -> list[str]:
        absent = []
        for name, url in urls.items():
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    if response.status >= 500:
                        absent.append(name)
            except urllib.error.HTTPError as error:
                if error.code >= 500:  # 503: HAProxy has no server of the backend up yet
                    absent.append(name)
            except (urllib.error.URLError, OSError):
                absent.append(name)
        return absent

    return missing


def cluster_settings(settings: Settings) -> Settings:
    """The settings every process of the cluster shares: links name the public web address."""
    return settings.replace(public_web_url=settings.public_web_url or f"http://localhost:{settings.web_port}")


def cmd_cluster(args: argparse.Namespace, services: Services) -> int:
    prepared = prepare(services)
    if prepared is None:
        return 1
    settings, model, admin_password = prepared
    try:
        run_list, settings = cluster_services(cluster_settings(settings), model, args.replicas)
    except ConfigError as error:
        print(f"faqbot cluster: {error}", file=sys.stderr)
        return 1
    supervisor = Supervisor(
        run_list,
        cwd=settings.home,
        env=child_env(settings),
        logs=settings.var_dir / "logs",
        status_path=settings.services_status_path,
    )
    banner = (
        f"\nfaqbot is running: {args.replicas} replicas of each service behind HAProxy.\n"
        f"  demo shop + chat widget: http://localhost:{settings.web_port}/\n"
        f"  agent desk:              http://localhost:{settings.web_port}/desk\n"
        f"  Rasa (channels, API):    http://localhost:{settings.rasa_port}/\n"
        f"  HAProxy's configuration: {settings.var_dir / 'cluster' / 'haproxy.cfg'}\n"
        f"  faqbot's database:       {Database(settings.database).name}\n"
        f"Press Ctrl-C to stop."
    )
    return serve(supervisor, banner, admin_password, unbalanced(settings))
