"""Load and soak test of the whole bot: `make soak`, or `python scripts/soak.py [options]`.

Starts the bot as a user does (``faqbot run`` of a checkout: this one, or
``--home`` another, e.g. a worktree of a baseline commit, for a side-by-side
comparison), on free loopback ports with its own data folder and a desk
agent; drives it with locust (scripts/locustfile.py: conversations over
Rasa's REST channel with think time, did-you-mean clicks, handoffs that an
agent answers on the desk); samples CPU and memory of every process
meanwhile; then checks every message each conversation sent is in Rasa's
tracker. Prints a summary and appends one JSON record per run to ``--out``.

    python scripts/soak.py --users 50 --think 5 --duration 180 --label "50 conversations"
    python scripts/soak.py --users 8 --think 0 --duration 60 --label saturation
    python scripts/soak.py --report docs/benchmarks-load.json   # plot + table in docs/benchmarks.md

``--cluster N`` runs ``faqbot cluster --replicas N`` instead (HAProxy in front of N replicas of each
service, a redis-server started here), and ``--kill rasa-1@60`` SIGKILLs that replica 60 s into the load:
the record then says when the supervisor had it back and how long each singleton lease the victim held
took to move to another replica.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
import psutil
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("rasa", "actions", "web")
AGENT = ("soak-agent", "soak agent password 0123")
READY_TIMEOUT = 900.0
SAMPLE_SECONDS = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bot:
    """``faqbot run`` (or ``faqbot cluster --replicas N``) of ``home`` on free ports, with its own var folder."""

    def __init__(self, home: Path, var_dir: Path, env_overrides: dict[str, str], replicas: int = 0) -> None:
        self.home, self.var_dir, self.replicas = home, var_dir, replicas
        self.redis: subprocess.Popen[bytes] | None = None
        self.redis_url = ""
        self.rasa_port, self.web_port, self.action_port = free_port(), free_port(), free_port()
        self.rasa_token = secrets.token_urlsafe(32)
        self.env = {
            **os.environ,
            "FAQBOT_HOME": str(home),
            "FAQBOT_VAR_DIR": str(var_dir),
            "FAQBOT_HOST": "127.0.0.1",
            "FAQBOT_RASA_PORT": str(self.rasa_port),
            "FAQBOT_WEB_PORT": str(self.web_port),
            "FAQBOT_ACTION_PORT": str(self.action_port),
            "FAQBOT_RASA_TOKEN": self.rasa_token,
            "FAQBOT_RATE_LIMIT": "off",
            "FAQBOT_BUSINESS_HOURS": "24/7",
            **env_overrides,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def faqbot(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=self.home, env=self.env, **kwargs)

    def start(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if self.faqbot("user", "add", AGENT[0], "--role", "agent", "--password-stdin",
                       input=AGENT[1].encode(), capture_output=True).returncode:  # fmt: skip
            raise RuntimeError("cannot create the desk agent")
        log = (self.var_dir / "faqbot-run.log").open("ab")
        command = ["run"]
        if self.replicas:
            self.start_redis()
            command = ["cluster", "--replicas", str(self.replicas)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *command], cwd=self.home, env=self.env, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"faqbot run stopped; see {self.var_dir / 'faqbot-run.log'}")
            try:
                reply = requests.post(
                    f"{self.rasa_url}/webhooks/rest/webhook",
                    json={"sender": "soak-warmup", "message": "hi"},
                    timeout=30,
                )
                if reply.ok and reply.json():
                    return
            except requests.RequestException:
                pass
            time.sleep(2)
        raise RuntimeError("the bot did not answer in time")

    def start_redis(self) -> None:
        """A redis-server of its own, so the leases can be watched (the cluster uses it: FAQBOT_REDIS_URL)."""
        port = free_port()
        (self.var_dir / "redis").mkdir(exist_ok=True)
        self.redis = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.var_dir / "redis")],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.redis_url = self.env["FAQBOT_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.redis_url).ping()
                return
            except redis.RedisError:
                time.sleep(0.2)
        raise RuntimeError("redis-server did not start")

    def services(self) -> dict[str, Any]:
        return dict(json.loads((self.var_dir / "run" / "services.json").read_text("utf-8"))["services"])

    def pids(self) -> dict[str, int]:
        """The supervisor's and each service's process id."""
        status = json.loads((self.var_dir / "run" / "services.json").read_text("utf-8"))
        pids = {"supervisor": int(status["supervisor_pid"])}
        pids.update({name: s["pid"] for name, s in status["services"].items() if s.get("pid")})
        return pids

    def user_messages(self, sender: str) -> int:
        token = jwt.encode(
            {"user": {"username": "soak", "role": "admin"}, "exp": int(time.time()) + 60},
            self.rasa_token,
            algorithm="HS256",
        )
        tracker = requests.get(
            f"{self.rasa_url}/conversations/{quote(sender, safe='')}/tracker",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        return sum(1 for event in tracker.get("events", []) if event.get("event") == "user")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(10)


class Killer(threading.Thread):
    """SIGKILLs service ``name`` ``at`` seconds into the load; then times its restart and the move of each
    singleton lease (faqbot:lease:*) it held to another replica."""

    def __init__(self, bot: Bot, name: str, at: float) -> None:
        super().__init__(daemon=True)
        self.bot, self.name, self.at = bot, name, at
        self.result: dict[str, Any] = {"service": name, "at_s": at}

    def leases(self) -> dict[str, bytes]:
        client = redis.Redis.from_url(self.bot.redis_url)
        return {key.decode(): client.get(key) or b"" for key in client.scan_iter("faqbot:lease:*")}

    def run(self) -> None:
        time.sleep(self.at)
        before = self.leases() if self.bot.redis_url else {}
        pid = self.bot.services()[self.name]["pid"]
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        moved: dict[str, float] = {}
        restarted = None
        while time.monotonic() - killed < 120 and (restarted is None or len(moved) < len(before)):
            now = self.leases() if before else {}
            for key, holder in before.items():
                if key not in moved and now.get(key) and now[key] != holder:
                    moved[key] = round(time.monotonic() - killed, 2)
            service = self.bot.services().get(self.name, {})
            if restarted is None and service.get("state") == "up" and service.get("pid") not in (None, pid):
                restarted = round(time.monotonic() - killed, 2)
            time.sleep(0.1)
        # A lease that kept its holder was not the victim's.
        self.result.update(restarted_after_s=restarted, leases_moved_after_s=moved,
                           leases_kept=sorted(set(before) - set(moved)))  # fmt: skip


class Sampler(threading.Thread):
    """CPU seconds and resident memory of each process, every ``SAMPLE_SECONDS``."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.samples: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self.started = time.monotonic()

    def sample(self) -> dict[str, Any]:
        row: dict[str, Any] = {"t": round(time.monotonic() - self.started, 1)}
        for name, process in self.processes.items():
            try:
                cpu = process.cpu_times()
                row[name] = {"rss_mb": process.memory_info().rss / 2**20, "cpu_s": cpu.user + cpu.system}
            except psutil.Error:
                row[name] = None
        return row

    def run(self) -> None:
        while not self.stopping.is_set():
            self.samples.append(self.sample())
            self.stopping.wait(SAMPLE_SECONDS)

    def finish(self) -> list[dict[str, Any]]:
        self.stopping.set()
        self.join()
        self.samples.append(self.sample())
        return self.samples


def run_locust(bot: Bot, args: argparse.Namespace, folder: Path) -> dict[str, dict[str, Any]]:
    """Run the load; returns locust's statistics per request name (customer turn kinds and desk requests)."""
    env = {
        **os.environ,
        "SOAK_THINK": str(args.think),
        "SOAK_HANDOFF_SHARE": str(args.handoff_share),
        "SOAK_LEDGER": str(folder / "ledger.tsv"),
        "SOAK_LATENCIES": str(folder / "latencies.tsv"),
        "SOAK_WEB_URL": bot.web_url,
        "SOAK_AGENT": ":".join(AGENT),
    }
    command = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "scripts" / "locustfile.py"), "--headless",
        "--users", str(args.users + 1), "--spawn-rate", str(args.spawn_rate), "--run-time", f"{args.duration}s",
        "--host", bot.rasa_url, "--csv", str(folder / "locust"), "--only-summary", "--stop-timeout", "30",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    subprocess.run(command, env=env, cwd=ROOT, check=False, stdout=(folder / "locust.log").open("wb"),
                   stderr=subprocess.STDOUT)  # fmt: skip
    stats: dict[str, dict[str, Any]] = {}
    with (folder / "locust_stats.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            stats[row["Name"]] = {
                "turns": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "per_second": float(row["Requests/s"]),
                "p50_ms": float(row["50%"] or 0),
                "p95_ms": float(row["95%"] or 0),
                "p99_ms": float(row["99%"] or 0),
                "max_ms": float(row["Max Response Time"] or 0),
            }
    return stats


def percentile(ordered: list[float], q: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


def turn_stats(latencies: Path, seconds: float) -> dict[str, dict[str, Any]]:
    """Exact percentiles of customer turns, per kind and for all ("all")."""
    by_kind: dict[str, list[tuple[float, bool]]] = {}
    for line in latencies.read_text("utf-8").splitlines() if latencies.exists() else []:
        kind, ms, ok = line.split("\t")
        by_kind.setdefault(kind, []).append((float(ms), ok == "1"))
    by_kind["all"] = [item for kind in list(by_kind) for item in by_kind[kind]]
    stats = {}
    for kind, items in by_kind.items():
        times = sorted(ms for ms, _ in items)
        stats[kind] = {
            "turns": len(items),
            "failures": sum(1 for _, ok in items if not ok),
            "per_second": round(len(items) / seconds, 2),
            "p50_ms": percentile(times, 0.50),
            "p95_ms": percentile(times, 0.95),
            "p99_ms": percentile(times, 0.99),
            "max_ms": round(times[-1], 1) if times else 0.0,
        }
    return stats


def account(bot: Bot, ledger: Path) -> dict[str, int]:
    """Every message each conversation sent, looked for in Rasa's tracker."""
    checked = missing = 0
    for line in ledger.read_text("utf-8").splitlines() if ledger.exists() else []:
        sender, sent = line.split("\t")
        checked += 1
        missing += max(0, int(sent) - bot.user_messages(sender))
    return {"conversations": checked, "messages_missing": missing}


def resources(samples: list[dict[str, Any]], turns: int) -> dict[str, dict[str, float]]:
    first, last = samples[0], samples[-1]
    out: dict[str, dict[str, float]] = {}
    for name in first:
        if name == "t" or not first[name] or not last[name]:
            continue
        rss = [s[name]["rss_mb"] for s in samples if s.get(name)]
        out[name] = {
            "rss_start_mb": round(first[name]["rss_mb"], 1),
            "rss_end_mb": round(last[name]["rss_mb"], 1),
            "rss_peak_mb": round(max(rss), 1),
            "cpu_ms_per_turn": round((last[name]["cpu_s"] - first[name]["cpu_s"]) * 1000 / max(turns, 1), 1),
        }
    return out


def git_commit(home: Path) -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=home, capture_output=True, text=True)
    return result.stdout.strip() or "?"


def checkout(ref: str, folder: Path) -> Path:
    """A detached worktree of ``ref`` in ``folder`` sharing this checkout's trained Rasa models (same inputs, same
    file name), to run a baseline commit's bot side by side with this one."""
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), ref], cwd=ROOT, check=True, capture_output=True)
    (ROOT / "models").mkdir(exist_ok=True)
    (folder / "models").symlink_to(ROOT / "models")
    return folder


def soak(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="faqbot-soak-"))
    home = checkout(args.ref, folder / "checkout") if args.ref else Path(args.home).resolve()
    bot = Bot(home, folder / "var", dict(item.split("=", 1) for item in args.env), args.cluster)
    try:
        started = time.monotonic()
        bot.start()
        print(f"bot of {home} ({git_commit(home)}) up in {time.monotonic() - started:.0f} s", flush=True)
        time.sleep(args.settle)
        sampler = Sampler(bot.pids())
        at_start = sampler.sample()
        sampler.start()
        killer = None
        if args.kill:
            name, _, at = args.kill.partition("@")
            killer = Killer(bot, name, float(at or 0))
            killer.start()
        locust_stats = run_locust(bot, args, folder)
        samples = sampler.finish()
        if killer is not None:
            killer.join(timeout=150)
        stats = turn_stats(folder / "latencies.tsv", args.duration)
        customer_turns = stats.get("all", {}).get("turns", 0)
        record = {
            "label": args.label,
            "commit": git_commit(home),
            "when": time.strftime("%Y-%m-%d %H:%M"),
            "load": {"users": args.users, "think_s": args.think, "duration_s": args.duration},
            "replicas": args.cluster or 1,
            "kill": killer.result if killer is not None else None,
            "turns": stats,
            "desk": {k: v for k, v in locust_stats.items() if k.startswith("desk")},
            "accounting": account(bot, folder / "ledger.tsv"),
            "memory_after_start_mb": {k: round(v["rss_mb"], 1) for k, v in at_start.items() if k != "t" and v},
            "resources": resources(samples, customer_turns),
            "timeline": samples,
            "loadavg": os.getloadavg(),
        }
        return record
    finally:
        bot.stop()
        if args.ref:
            subprocess.run(["git", "worktree", "remove", "--force", str(home)], cwd=ROOT, check=False)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"kept {folder}")


def summary(record: dict[str, Any]) -> str:
    total = record["turns"].get("all", {})
    customer = {k: v for k, v in record["turns"].items() if k != "all"}
    lines = [f"== {record['label']} ({record['commit']}, {record['when']}, load avg {record['loadavg'][0]:.1f})"]
    lines.append(f"{'kind':<24}{'turns':>7}{'fail':>6}{'/s':>7}{'p50':>7}{'p95':>7}{'p99':>7}")
    for name, row in sorted(customer.items()) + [("all", total)]:
        lines.append(
            f"{name:<24}{row.get('turns', 0):>7}{row.get('failures', 0):>6}{row.get('per_second', 0):>7.1f}"
            f"{row.get('p50_ms', 0):>7.0f}{row.get('p95_ms', 0):>7.0f}{row.get('p99_ms', 0):>7.0f}"
        )
    lines.append(f"accounting: {record['accounting']}")
    if record.get("kill"):
        lines.append(f"kill: {record['kill']}")
    memory = record["memory_after_start_mb"]
    lines.append(f"memory after start: {memory} (total {sum(memory.values()):.0f} MB)")
    for name, row in record["resources"].items():
        lines.append(f"  {name:<11} {row}")
    return "\n".join(lines)


def markers(section: str) -> tuple[str, str]:
    """Where a records file's table goes in the docs: between ``<!-- section:start -->`` and ``...:end -->``."""
    return f"<!-- {section}:start -->", f"<!-- {section}:end -->"


def by_kind(values: dict[str, float], kind: str) -> float:
    """A service's number summed over its replicas (``rasa``, or ``rasa-1`` + ``rasa-2`` in a cluster)."""
    return sum(v for name, v in values.items() if name == kind or name.startswith(f"{kind}-"))


def table(records: list[dict[str, Any]], section: str = "soak") -> list[str]:
    """The runs of a records file as the table docs/benchmarks.md shows (between the section's markers).
    Memory and CPU of a service are summed over its replicas; the total includes HAProxy and Redis."""
    start, end = markers(section)
    lines = [
        start,
        "| run | commit | when | load avg | turns/s | p50 ms | p95 ms | p99 ms | failures | missing in tracker "
        "| memory after start MB (sup/rasa/actions/web) | growth MB | CPU ms/turn (rasa/actions/web) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        every = r["turns"]["all"]
        memory = r["memory_after_start_mb"]
        use = r["resources"]
        growth = sum(v["rss_end_mb"] - v["rss_start_mb"] for v in use.values())
        at_start = "/".join(f"{by_kind(memory, n):.0f}" for n in ("supervisor", *SERVICES))
        cpu_per_turn = {name: row["cpu_ms_per_turn"] for name, row in use.items()}
        cpu = "/".join(f"{by_kind(cpu_per_turn, n):.1f}" for n in SERVICES)
        lines.append(
            f"| {r['label']} | {r['commit']} | {r['when']} | {r['loadavg'][0]:.1f} | {every['per_second']:.1f} "
            f"| {every['p50_ms']:.0f} | {every['p95_ms']:.0f} | {every['p99_ms']:.0f} | {every['failures']} "
            f"| {r['accounting']['messages_missing']} of {every['turns']} "
            f"| {sum(memory.values()):.0f} ({at_start}) | {growth:+.0f} | {cpu} |"
        )
    return [*lines, end]


def report(records_path: Path, docs: Path, section: str = "soak") -> None:
    """Plot the records next to the file (.png) and put their table into ``docs`` between the section's
    markers."""
    records = [json.loads(line) for line in records_path.read_text("utf-8").splitlines() if line.strip()]
    plot(records, records_path.with_suffix(".png"))
    text = docs.read_text("utf-8")
    start, end = markers(section)
    if start not in text or end not in text:
        raise SystemExit(f"{docs} has no {start} ... {end} section for the table")
    body = "\n".join(table(records, section))
    docs.write_text(text[: text.index(start)] + body + text[text.index(end) + len(end) :], "utf-8")


def plot(records: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Runs are numbered: the memory plot's legend names each number, the latency bars carry it.
    figure, (memory, latency) = plt.subplots(2, 1, figsize=(12, 9), gridspec_kw={"height_ratios": [3, 2]})
    for number, record in enumerate(records, 1):
        timeline = record["timeline"]
        total = [sum(s[n]["rss_mb"] for n in s if n != "t" and s[n]) for s in timeline]
        name = f"{number}. {record['label']} ({record['commit']})"
        memory.plot([s["t"] / 60 for s in timeline], total, label=name)
    memory.set(xlabel="minutes under load", ylabel="resident memory, all processes (MB)", title="Memory over time")
    memory.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    for offset, key in enumerate(("p50_ms", "p95_ms", "p99_ms")):
        values = [r["turns"]["all"][key] for r in records]
        latency.bar([i + offset * 0.27 for i in range(len(records))], values, width=0.27, label=key[:3])
    ticks = [f"{number}\n{r['turns']['all']['per_second']:.1f}/s" for number, r in enumerate(records, 1)]
    latency.set_xticks([i + 0.27 for i in range(len(records))], ticks, fontsize=8)
    latency.set_xlabel("run (as numbered above) and its turns per second")
    latency.set(ylabel="turn latency (ms)", title="Turn latency")
    latency.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", default=str(ROOT), help="the checkout to run (default: this one)")
    parser.add_argument("--ref", default="", help="run the bot of this git commit instead (a temporary worktree)")
    parser.add_argument("--users", type=int, default=50, help="concurrent conversations")
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds between a customer's turns")
    parser.add_argument("--duration", type=int, default=180, help="seconds of load")
    parser.add_argument("--spawn-rate", type=float, default=10.0)
    parser.add_argument("--handoff-share", type=float, default=0.05)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds between start and load")
    parser.add_argument("--label", default="")
    parser.add_argument("--cluster", type=int, default=0, help="faqbot cluster with this many replicas of each")
    parser.add_argument("--kill", default="", help="SERVICE@SECONDS: SIGKILL that service (e.g. rasa-1@60)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the bot (repeatable)")
    parser.add_argument("--out", default="", help="append the JSON record to this file")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    parser.add_argument("--report", metavar="RECORDS", help="plot a records file and table it in docs; then stop")
    parser.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"), help="where --report writes")
    parser.add_argument("--section", default="soak", help="--report: the docs' <!-- SECTION:start/end --> markers")
    args = parser.parse_args()
    if args.report:
        report(Path(args.report), Path(args.docs), args.section)
        return
    args.label = args.label or f"{args.users} conversations, {args.think:g} s think"
    record = soak(args)
    print(summary(record), flush=True)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
