"""The real bot on the scale-out engines (real servers): FAQBOT_REDIS_URL (redis-server) and
FAQBOT_TRACKER_URL (PostgreSQL). Rasa takes its conversation locks from channels/lock_store.py, sends
socket.io messages through Redis (channels/socketio_manager.py) and keeps conversations in PostgreSQL, where
the web app reads them; with Redis killed it keeps answering, and it is back on Redis when Redis is."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import socketio

from tests.servers import PostgresServer, RedisServer, RunningBot, running_bot, wait_for_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().up()
    yield server
    server.remove()


@pytest.fixture(scope="module")
def redis_bot(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[tuple[RedisServer, RunningBot]]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).up()
    try:
        var = tmp_path_factory.mktemp("scale-out-var")
        with running_bot(var, redis_url=server.url, tracker_url=postgres.url) as bot:
            wait_for_model(bot)
            yield server, bot
    finally:
        server.down()


def calls(server: RedisServer, command: str) -> int:
    stats = redis.Redis.from_url(server.url).info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_rasa_runs_on_the_race_free_lock_store(redis_bot: tuple[RedisServer, RunningBot]) -> None:
    server, bot = redis_bot
    endpoints = (bot.settings.var_dir / "endpoints.yml").read_text("utf-8")
    assert "channels.lock_store.AtomicRedisLockStore" in endpoints and server.url not in endpoints
    before = calls(server, "eval")
    assert bot.say("lock-1", "how long does shipping take?")
    assert calls(server, "eval") >= before + 3  # a ticket, its turn, its release: Rasa used the Redis lock
    assert not redis.Redis.from_url(server.url).keys("faqbot:lock:*")  # the last ticket out cleaned up


def test_conversations_are_kept_in_postgresql_and_the_desk_reads_them_there(
    redis_bot: tuple[RedisServer, RunningBot],
) -> None:
    import sqlalchemy as sa

    _, bot = redis_bot
    endpoints = (bot.settings.var_dir / "endpoints.yml").read_text("utf-8")
    assert "database_url: ${FAQBOT_TRACKER_URL}" in endpoints and PostgresServer.PASSWORD not in endpoints
    bot.say("pg-1", "my card 4111 1111 1111 1111 was charged twice")
    with sa.create_engine(bot.settings.tracker_url).connect() as connection:
        texts = [row[0] for row in connection.execute(sa.text("SELECT data FROM events WHERE sender_id = 'pg-1'"))]
    assert texts and not any("4111" in text for text in texts) and any("[card]" in text for text in texts)
    assert not (bot.settings.var_dir / "rasa_tracker.db").exists()
    # The web app reads the conversation from there: hand off and the desk shows what the customer said.
    for text in ("I want to talk to a human", "Kim Lee", "pg-1@example.com", "LK-123456"):
        bot.say("pg-1", text)  # the problem was a charge: the form asks for the order number too
    ticket = bot.wait_for(lambda: bot.store().open_for_conversation("pg-1"), what="the ticket")
    desk = bot.desk_session("pg-agent", "pg agent password 123")
    page = desk.get(f"{bot.web_url}/desk/tickets/{ticket.id}", timeout=30).text
    assert "charged twice" in page


def test_messages_of_one_conversation_sent_at_once_are_each_answered_in_turn(
    redis_bot: tuple[RedisServer, RunningBot],
) -> None:
    _, bot = redis_bot
    questions = ["do you ship abroad?", "how do I return an item?", "can I change my order?", "thanks"]
    threads = [threading.Thread(target=bot.say, args=("lock-2", question)) for question in questions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kinds = [event["event"] for event in bot.tracker("lock-2")["events"] if event["event"] in ("user", "bot")]
    said = [event["text"] for event in bot.tracker("lock-2")["events"] if event["event"] == "user"]
    assert sorted(said) == sorted(questions)  # each once
    # Serialised: every message is answered before the next one is read.
    for index, kind in enumerate(kinds):
        if kind == "user" and index:
            assert kinds[index - 1] == "bot", kinds


async def _widget_says(bot: RunningBot, session_id: str, text: str) -> dict[str, Any]:
    client, received = socketio.AsyncClient(), asyncio.Queue()  # type: ignore[var-annotated]
    confirmed = asyncio.Event()
    client.on("bot_uttered", received.put_nowait)
    client.on("session_confirm", lambda _: confirmed.set())
    await client.connect(bot.settings.rasa_url, transports=["polling"])
    try:
        await client.emit("session_request", {"session_id": session_id})
        await asyncio.wait_for(confirmed.wait(), 10)
        await client.emit("user_uttered", {"message": text, "session_id": session_id})
        return dict(await asyncio.wait_for(received.get(), 60))
    finally:
        await client.disconnect()


def test_the_widgets_messages_go_through_redis(redis_bot: tuple[RedisServer, RunningBot]) -> None:
    server, bot = redis_bot
    before = calls(server, "publish")
    answer = asyncio.run(_widget_says(bot, "widget-1", "how long does shipping take?"))
    assert answer["text"]
    assert calls(server, "publish") > before


def test_with_redis_killed_the_bot_keeps_answering_and_uses_redis_again_when_it_is_back(
    redis_bot: tuple[RedisServer, RunningBot], tmp_path: Path
) -> None:
    server, bot = redis_bot
    server.down()
    try:
        assert bot.say("no-redis-1", "do you ship abroad?")
        assert asyncio.run(_widget_says(bot, "no-redis-2", "how do I return an item?"))["text"]
    finally:
        server.up()
    assert bot.say("redis-again", "can I change my order?")
    assert calls(server, "eval") >= 3  # a fresh server: these are the new turn's
    assert "unreachable" in bot.log_tail("rasa", 400)


def test_with_postgresql_restarted_the_bot_keeps_answering_and_loses_no_message(
    redis_bot: tuple[RedisServer, RunningBot], postgres: PostgresServer
) -> None:
    """The tracker store's database down: questions are still answered, in the conversation's context (kept in
    Rasa's memory, channels/tracker_store.py); once it is back, Rasa reconnects by itself and writes what it
    kept, so the conversation in PostgreSQL has every message, in order."""
    _, bot = redis_bot
    assert bot.say("pg-restart", "Где моя посылка?")
    postgres.down()
    try:
        down = bot.say("pg-restart", "Вы доставляете за границу?")
        assert down and "something went wrong" not in down[-1].get("text", "")
        assert any(c in down[-1].get("text", "") for c in "абвгдеёжзийклмнопрстуфхцчшщыэюя")  # still Russian
    finally:
        postgres.up()
    assert bot.say("pg-restart", "Как вернуть товар?")
    said = [e["text"] for e in bot.tracker("pg-restart")["events"] if e["event"] == "user"]
    assert said == ["Где моя посылка?", "Вы доставляете за границу?", "Как вернуть товар?"]
    assert "kept it to write later" in bot.log_tail("rasa", 400)
