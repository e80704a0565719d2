"""/healthz names the shared servers of a scaled-out bot (Redis, the tracker store's PostgreSQL) and says
which one is down, against real servers that are stopped and started again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.web import create_app
from tests.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, PostgresServer]]:
    red = RedisServer(tmp_path_factory.mktemp("redis")).up()
    pg = PostgresServer().up()
    yield red, pg
    red.down()
    pg.down()
    pg.remove()


def test_healthz_says_which_shared_server_is_down(servers: tuple[RedisServer, PostgresServer], settings: Settings):
    red, pg = servers
    client = create_app(
        settings=settings.replace(rasa_port=1, redis_url=red.url, tracker_url=pg.url, database_url=pg.url),
        test_config={"TESTING": True},
    ).test_client()

    up = client.get("/healthz").get_json()
    assert up["redis"] == {"ok": True, "server": f"127.0.0.1:{red.port}"}
    assert up["tracker"] == {"ok": True, "server": f"postgresql://{pg.USER}:***@127.0.0.1:{pg.port}/faqbot"}
    assert up["database"] == up["tracker"]  # faqbot's own tables, here in the same database
    assert pg.PASSWORD not in client.get("/healthz").get_data(as_text=True)  # never the password

    red.down()
    try:
        response = client.get("/healthz")
        report = response.get_json()
        assert response.status_code == 503 and report["status"] == "degraded"
        assert report["redis"]["ok"] is False and "Redis does not answer" in report["redis"]["error"]
        assert report["tracker"]["ok"] is True
    finally:
        red.up()

    pg.down()
    try:
        report = client.get("/healthz").get_json()
        assert report["tracker"]["ok"] is False and "the tracker store does not answer" in report["tracker"]["error"]
        assert report["database"]["ok"] is False and "faqbot's database does not answer" in report["database"]["error"]
        assert pg.PASSWORD not in json.dumps(report)
        assert report["redis"]["ok"] is True
    finally:
        pg.up()
    back = client.get("/healthz").get_json()
    assert back["tracker"]["ok"] is True and back["database"]["ok"] is True  # back by itself: no engine kept broken


def test_healthz_leaves_out_what_is_not_configured(settings: Settings, tmp_path: Path):
    report = create_app(settings=settings.replace(rasa_port=1), test_config={"TESTING": True}).test_client()
    body = report.get("/healthz").get_json()
    assert "redis" not in body and "tracker" not in body and "database" not in body
