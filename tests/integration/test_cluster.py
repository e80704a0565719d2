"""``faqbot cluster`` for real: Redis, HAProxy, two Rasa servers, two action servers and two web apps, Rasa's
conversations in a real PostgreSQL; failover when a replica is killed (docs/scaling.md). A reply sent through
one Rasa replica reaching a widget on the other is tested in tests/unit/test_socketio_replicas.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from bot.rasa.client import bearer_token
from bot.settings import PROJECT_ROOT
from tests.servers import PostgresServer, free_port

pytestmark = pytest.mark.slow

AGENT = ("cluster-agent", "cluster agent password 1")
TOKEN = "cluster-rasa-token-0123456789abcdef0123"


class Cluster:
    def __init__(self, var: Path, kb: Path, tracker_url: str) -> None:
        self.var = var
        self.rasa_port, self.web_port, self.action_port = free_port(), free_port(), free_port()
        self.env = {
            **os.environ,
            "FAQBOT_VAR_DIR": str(var),
            "FAQBOT_KB_DIR": str(kb),
            "FAQBOT_RASA_PORT": str(self.rasa_port),
            "FAQBOT_WEB_PORT": str(self.web_port),
            "FAQBOT_ACTION_PORT": str(self.action_port),
            "FAQBOT_TRACKER_URL": tracker_url,
            "FAQBOT_DATABASE_URL": tracker_url,  # faqbot's own tables in the same PostgreSQL database
            "FAQBOT_RASA_TOKEN": TOKEN,
            "FAQBOT_RATE_LIMIT": "off",
            "FAQBOT_BUSINESS_HOURS": "24/7",
            "FAQBOT_RELAY_INTERVAL": "0.3",
        }
        self.env.pop("FAQBOT_REDIS_URL", None)
        faqbot = [sys.executable, "-m", "bot.cli"]
        add = [*faqbot, "user", "add", AGENT[0], "--role", "agent", "--password-stdin"]
        subprocess.run(add, input=AGENT[1].encode(), env=self.env, cwd=PROJECT_ROOT, check=True, capture_output=True)
        var.mkdir(parents=True, exist_ok=True)  # the user went to PostgreSQL: nothing made var/ yet
        self.output = (var / "cluster.out").open("wb")
        self.process = subprocess.Popen([*faqbot, "cluster"], env=self.env, cwd=PROJECT_ROOT, stdout=self.output,
                                        stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 900
        while "faqbot is running" not in self.printed():
            assert self.process.poll() is None and time.monotonic() < deadline, self.printed()[-3000:]
            time.sleep(1)

    def printed(self) -> str:
        return (self.var / "cluster.out").read_text("utf-8", errors="replace")

    @property
    def rasa(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def status(self) -> dict[str, Any]:
        return dict(json.loads((self.var / "run" / "services.json").read_text("utf-8"))["services"])

    def say(self, sender: str, text: str, retries: int = 0) -> list[dict[str, Any]]:
        """Post a message as a channel does; with ``retries``, again after a 502 or a connection closed with no
        answer at all: a replica died holding it. HAProxy answers 502 when the replica dies before its reply
        starts, and closes the connection (log state SD) when it dies once the request is under way, as one
        SIGKILL did in a full run here; a channel retries both."""
        for attempt in range(retries + 1):
            try:
                reply = requests.post(
                    f"{self.rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60
                )
            except requests.ConnectionError:
                if attempt == retries:
                    raise
                continue
            if reply.status_code != 502:
                break
        reply.raise_for_status()
        return list(reply.json())

    def get(self, path: str, retries: int = 1) -> requests.Response:
        """GET a web page through HAProxy; again after a 502 (the replica died holding the request), as a browser's
        reload would."""
        for _ in range(retries + 1):
            response = requests.get(f"{self.web}{path}", timeout=30)
            if response.status_code != 502:
                break
        return response

    def tracker(self, sender: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {bearer_token(TOKEN)}"}
        return dict(requests.get(f"{self.rasa}/conversations/{sender}/tracker", headers=headers, timeout=30).json())

    def served_by(self, backend: str) -> set[str]:
        log = (self.var / "logs" / "haproxy.log").read_text("utf-8", errors="replace")
        return set(re.findall(rf" {backend}/({backend}-\d) ", log))

    def kill(self, name: str) -> None:
        os.kill(int(self.status()[name]["pid"]), signal.SIGKILL)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(90)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    postgres = PostgresServer().up()
    folder = tmp_path_factory.mktemp("cluster")
    shutil.copytree(PROJECT_ROOT / "knowledge_base", folder / "kb", ignore=shutil.ignore_patterns("drafts"))
    running = Cluster(folder / "var", folder / "kb", postgres.url)
    try:
        yield running
    finally:
        running.stop()
        postgres.remove()


def test_two_of_everything_behind_haproxy_answer(cluster: Cluster) -> None:
    status = cluster.status()
    assert sorted(status) == sorted(
        ["redis", "haproxy"] + [f"{s}-{i}" for s in ("rasa", "actions", "web") for i in (1, 2)]
    )
    assert all(s["state"] == "up" for s in status.values()), status
    for n in range(6):
        assert cluster.say(f"hello-{n}", "how long does shipping take?")[0]["text"]
    assert requests.get(f"{cluster.web}/login", timeout=10).ok
    assert cluster.served_by("rasa") == {"rasa-1", "rasa-2"}
    assert cluster.served_by("actions") == {"actions-1", "actions-2"}


def test_one_conversation_on_both_rasa_replicas_at_once_is_taken_in_turn(cluster: Cluster) -> None:
    questions = ["do you ship abroad?", "how do I return an item?", "can I change my order?", "thanks", "hi", "bye"]
    threads = [threading.Thread(target=cluster.say, args=("one-conversation", q)) for q in questions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = [e for e in cluster.tracker("one-conversation")["events"] if e["event"] in ("user", "bot")]
    assert sorted(e["text"] for e in events if e["event"] == "user") == sorted(questions)  # each once
    kinds = [e["event"] for e in events]
    assert all(kinds[i - 1] == "bot" for i, kind in enumerate(kinds) if kind == "user" and i), kinds


def test_every_replica_shares_faqbots_database_on_postgresql(cluster: Cluster) -> None:
    """FAQBOT_DATABASE_URL: the user added before the start, and a ticket created through the load balancer by
    whichever action-server replica took it, are in PostgreSQL, where both web replicas read them."""
    sender = "cluster-handoff"
    for text in ("I want to talk to a human", "Ada Lovelace", "ada.cluster@example.com"):
        cluster.say(sender, text, retries=1)
    engine = sa.create_engine(cluster.env["FAQBOT_DATABASE_URL"], future=True)
    try:
        with engine.connect() as conn:
            users = conn.execute(sa.text("SELECT username FROM users")).scalars().all()
            tickets = (
                conn.execute(sa.text("SELECT status FROM handoff_tickets WHERE conversation_id = :c"), {"c": sender})
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert AGENT[0] in users and tickets == ["waiting"]
    assert not (cluster.var / "faqbot.db").exists()
    assert "faqbot's database:       postgresql://faqbot:***@127.0.0.1" in cluster.printed()


def test_a_kb_edit_through_the_web_replicas_is_answered_by_every_action_server(cluster: Cluster) -> None:
    """One knowledge base for every replica: an FAQ changed through the web app's API (whichever web replica
    HAProxy picks) is answered with its new text by both action servers, without a restart."""
    faqbot = [sys.executable, "-m", "bot.cli", "user"]
    add = [*faqbot, "add", "cluster-editor", "--role", "editor", "--password-stdin"]
    subprocess.run(add, input=b"cluster editor password 1", env=cluster.env, cwd=PROJECT_ROOT, check=True)
    made = subprocess.run([*faqbot, "token", "cluster-editor", "--name", "cluster test"], env=cluster.env,
                          cwd=PROJECT_ROOT, check=True, capture_output=True, text=True)  # fmt: skip
    token = made.stdout.strip().splitlines()[-1]
    marker = "Edited in the cluster test: accounts are made from the Sign up link."
    edited = requests.patch(
        f"{cluster.web}/api/v1/faqs/en/account-create",
        json={"answer": marker},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert edited.status_code == 200, edited.text
    saved = time.monotonic()
    log = cluster.var / "logs" / "haproxy.log"
    while True:
        answer = cluster.say(f"kb-edit-{time.monotonic()}", "How do I create an account?", retries=1)
        if answer and marker in answer[0].get("text", ""):
            break
        assert time.monotonic() - saved < 120, answer
        time.sleep(0.2)
    live_after = time.monotonic() - saved
    print(f"the edit was answered {live_after:.1f} s after the save")
    seen = len(log.read_text("utf-8", errors="replace"))
    for n in range(6):  # HAProxy spreads the action calls over both action servers
        answer = cluster.say(f"kb-edit-after-{n}", "How do I create an account?", retries=1)
        assert marker in answer[0]["text"], answer
    since = log.read_text("utf-8", errors="replace")[seen:]
    assert set(re.findall(r" actions/(actions-\d) ", since)) == {"actions-1", "actions-2"}


@pytest.mark.parametrize("victim", ["rasa-1", "actions-2", "web-1", "rasa-2"])
def test_a_killed_replica_loses_no_conversation(cluster: Cluster, victim: str) -> None:
    """Customers go on talking while a replica is killed (SIGKILL): every message is answered (a channel
    retries the one request a dying Rasa replica may have taken: 502), and each is in its conversation."""
    before = cluster.status()[victim]["restarts"]
    cluster.kill(victim)
    for n in range(8):
        assert cluster.say(f"after-{victim}-{n}", "how do I return an item?", retries=1)[0]["text"]
        assert cluster.get("/login").ok
    for n in range(8):
        said = [e["text"] for e in cluster.tracker(f"after-{victim}-{n}")["events"] if e["event"] == "user"]
        assert said and set(said) == {"how do I return an item?"}
    deadline = time.monotonic() + 240
    while cluster.status()[victim]["state"] != "up" or cluster.status()[victim]["restarts"] <= before:
        assert time.monotonic() < deadline, cluster.status()[victim]
        time.sleep(1)
