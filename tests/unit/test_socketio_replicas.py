"""socket.io across two replicas of the channel (real Sanic servers, real Redis): a message sent through one
replica reaches a widget connected to the other (channels/socketio_manager.py); with Redis down, a replica
still answers its own sockets."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import socketio

from bot.settings import PROJECT_ROOT
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.slow


class Replica:
    def __init__(self, redis_url: str, log: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "FAQBOT_REDIS_URL": redis_url, "FAQBOT_HOST": "127.0.0.1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.socketio_replica", str(self.port)],
            cwd=PROJECT_ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/socket.io/?EIO=4&transport=polling", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"replica did not start; see {log}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def send(self, session_id: str, text: str) -> None:
        requests.post(f"{self.url}/send/{session_id}", json={"text": text}, timeout=10).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, Replica, Replica]]:
    folder = tmp_path_factory.mktemp("socketio")
    server = RedisServer(folder).up()
    a, b = Replica(server.url, folder / "a.log"), Replica(server.url, folder / "b.log")
    yield server, a, b
    a.stop()
    b.stop()
    server.down()


async def _widget(url: str, session_id: str) -> tuple[socketio.AsyncClient, asyncio.Queue[dict[str, Any]]]:
    """A widget's socket on ``url``, in its session, with the bot messages it receives."""
    client, received = socketio.AsyncClient(), asyncio.Queue()  # type: ignore[var-annotated]
    confirmed = asyncio.Event()
    client.on("bot_uttered", received.put_nowait)
    client.on("session_confirm", lambda _: confirmed.set())
    await client.connect(url, transports=["polling"])
    await client.emit("session_request", {"session_id": session_id})
    await asyncio.wait_for(confirmed.wait(), 10)
    return client, received


def test_a_reply_sent_through_replica_b_reaches_the_widget_on_replica_a(cluster: Any) -> None:
    _, a, b = cluster

    async def main() -> list[str]:
        client, received = await _widget(a.url, "customer-1")
        try:
            await asyncio.to_thread(b.send, "customer-1", "Ann (support team): your refund is on its way")
            await client.emit("user_uttered", {"message": "hello", "session_id": "customer-1"})
            return [(await asyncio.wait_for(received.get(), 10))["text"] for _ in range(2)]
        finally:
            await client.disconnect()

    assert sorted(asyncio.run(main())) == ["Ann (support team): your refund is on its way", "echo: hello"]


def test_messages_on_the_redis_channel_are_json_and_garbage_is_ignored(cluster: Any) -> None:
    server, a, b = cluster
    red = redis.Redis.from_url(server.url)
    subscriber = red.pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe("faqbot-socketio")

    async def main() -> str:
        client, received = await _widget(a.url, "customer-2")
        try:
            # What python-socketio 5.9 would unpickle (code execution for whoever can publish), and junk.
            red.publish("faqbot-socketio", b"\x80\x04\x95garbage-pickle")
            red.publish("faqbot-socketio", "not json")
            await asyncio.to_thread(b.send, "customer-2", "still here")
            return str((await asyncio.wait_for(received.get(), 10))["text"])
        finally:
            await client.disconnect()

    assert asyncio.run(main()) == "still here"
    published = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(b"still here" in item for item in published):
        message = subscriber.get_message(timeout=0.5)
        if message:
            published.append(message["data"])
    assert any(item.startswith(b"{") and b"still here" in item for item in published)


def test_with_redis_down_a_replica_still_answers_its_own_widgets(cluster: Any) -> None:
    server, a, _ = cluster

    async def main() -> str:
        client, received = await _widget(a.url, "customer-3")
        try:
            server.down()
            await client.emit("user_uttered", {"message": "are you there?", "session_id": "customer-3"})
            return str((await asyncio.wait_for(received.get(), 10))["text"])
        finally:
            await client.disconnect()
            server.up()

    assert asyncio.run(main()) == "echo: are you there?"
