"""channels/bodies.py on requests built in memory: verdicts, and a JSON body parsed once for the handler."""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

import pytest
from sanic import Sanic
from sanic.compat import Header
from sanic.request import Request

from channels.bodies import refuse_malformed_json

APP = Sanic("bodies_test")


def request(path: str, body: bytes, content_type: str = "application/json", **headers: str) -> Request:
    made = Request(path.encode(), Header({"content-type": content_type, **headers}), "1.1", "POST", None, APP)
    made.body = body
    return made


def check(made: Request, limit: int = 1000) -> Any:
    return asyncio.run(refuse_malformed_json(limit)(made))


def test_a_json_body_is_parsed_once_and_handed_to_the_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    made = request("/webhook", json.dumps({"next_action": "action_answer_faq", "tracker": {}}).encode())
    assert check(made) is None
    monkeypatch.setattr(Request, "load_json", lambda *a, **k: pytest.fail("parsed a second time"))
    assert made.json == {"next_action": "action_answer_faq", "tracker": {}}


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{not json", 400), (b"[1, 2]", 400), (b'"text"', 400)],
)
def test_bodies_that_are_not_a_json_object_are_refused(body: bytes, status: int) -> None:
    assert check(request("/conversations/x/execute", body)).status == status


def test_a_deflated_body_is_inflated_within_the_limit() -> None:
    small = request("/model/parse", zlib.compress(b'{"text": "hi"}'), **{"content-encoding": "deflate"})
    assert check(small) is None
    bomb = request(
        "/model/parse", zlib.compress(b'{"text": "' + b"a" * 5000 + b'"}'), **{"content-encoding": "deflate"}
    )
    assert check(bomb).status == 413
