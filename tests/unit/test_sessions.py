"""Desk sessions live on the server: an old cookie replayed after sign-out, a password, role or
enabled-state change, or expiry is refused; the cookie carries only a signed random id."""

from __future__ import annotations

import io
import re
import sqlite3
import time

import pytest

from bot.cli import main
from bot.settings import Settings
from bot.storage.accounts import UserStore, session_key
from bot.web import create_app

PASSWORD = "correct horse battery"
COOKIE = "faqbot_session"


@pytest.fixture
def app(settings: Settings):
    settings = settings.replace(rasa_port=1, action_port=1, secret_key="test-secret")
    users = UserStore(settings.database_path)
    users.add("ann", PASSWORD, role="agent", display_name="Ann Agent")
    users.add("root", PASSWORD, role="admin")
    return create_app(settings=settings, test_config={"TESTING": True})


def _settings(app) -> Settings:
    return app.config["FAQBOT_SETTINGS"]


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf[_-]token" (?:value|content)="([^"]+)"', page)
    assert match, page[:300]
    return match.group(1)


def sign_in(app, username: str = "ann", password: str = PASSWORD):
    client = app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def stolen_cookie(client) -> str:
    """The session cookie as an attacker who copied it would hold it."""
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def replay(app, cookie: str):
    """A fresh browser that presents ``cookie`` and asks for the desk (JSON: 200 or 401)."""
    client = app.test_client()
    client.set_cookie(COOKIE, cookie)
    return client.get("/desk/queue.json", headers={"Accept": "application/json"})


def sessions_in_db(app) -> list[sqlite3.Row]:
    conn = sqlite3.connect(_settings(app).database_path)
    conn.row_factory = sqlite3.Row
    return conn.execute("SELECT * FROM web_sessions").fetchall()


def test_the_cookie_carries_only_a_signed_session_id_and_the_table_only_its_hash(app):
    client = sign_in(app)
    cookie = stolen_cookie(client)
    data = app.session_interface.get_signing_serializer(app).loads(cookie)
    assert set(data) == {"sid", "_permanent"} and len(data["sid"]) >= 40  # _permanent: Flask's expiry flag
    (row,) = sessions_in_db(app)
    assert row["username"] == "ann" and row["id_hash"] != data["sid"] and data["sid"] not in row["id_hash"]
    assert row["expires_at"] - row["created_at"] == pytest.approx(12 * 3600)
    assert replay(app, cookie).status_code == 200
    forged = app.session_interface.get_signing_serializer(app).dumps({"sid": "guessed"})
    assert replay(app, forged).status_code == 401


def test_an_old_cookie_replayed_after_sign_out_is_refused(app):
    client = sign_in(app)
    cookie = stolen_cookie(client)
    token = _csrf(client.get("/desk/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert replay(app, cookie).status_code == 401
    assert sessions_in_db(app) == []


def test_signing_out_needs_the_csrf_token_while_signed_in(app):
    client = sign_in(app)
    assert client.post("/logout").status_code == 400
    assert replay(app, stolen_cookie(client)).status_code == 200


def test_an_old_cookie_replayed_after_faqbot_user_passwd_is_refused(app, monkeypatch, capsys):
    first, second = sign_in(app), sign_in(app)  # two browsers
    cookies = [stolen_cookie(first), stolen_cookie(second)]
    other = stolen_cookie(sign_in(app, "root"))
    monkeypatch.setenv("FAQBOT_VAR_DIR", str(_settings(app).var_dir))
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    assert main(["user", "passwd", "ann", "--password-stdin"]) == 0
    assert "2 sessions ended" in capsys.readouterr().out
    assert [replay(app, cookie).status_code for cookie in cookies] == [401, 401]
    assert replay(app, other).status_code == 200  # other users stay signed in
    assert sign_in(app, "ann", "a brand new password")


def test_an_old_cookie_replayed_after_disabling_the_user_is_refused(app, monkeypatch, capsys):
    cookie = stolen_cookie(sign_in(app))
    monkeypatch.setenv("FAQBOT_VAR_DIR", str(_settings(app).var_dir))
    assert main(["user", "disable", "ann"]) == 0
    assert "1 session ended" in capsys.readouterr().out
    assert replay(app, cookie).status_code == 401
    assert main(["user", "enable", "ann"]) == 0  # enabling again does not bring the session back
    assert replay(app, cookie).status_code == 401


def test_an_old_cookie_replayed_after_a_role_change_is_refused(app, monkeypatch, capsys):
    cookie = stolen_cookie(sign_in(app, "root"))
    monkeypatch.setenv("FAQBOT_VAR_DIR", str(_settings(app).var_dir))
    assert main(["user", "role", "root", "agent"]) == 0
    assert "root is now agent; 1 session ended" in capsys.readouterr().out
    assert replay(app, cookie).status_code == 401
    assert UserStore(_settings(app).database_path).get("root").role == "agent"
    assert main(["user", "role", "nobody", "agent"]) == 2


def test_expired_and_idle_sessions_are_refused_and_cleaned_up(app):
    expired, idle, live = (stolen_cookie(sign_in(app)) for _ in range(3))
    serializer = app.session_interface.get_signing_serializer(app)
    conn = sqlite3.connect(_settings(app).database_path)
    now = time.time()
    users = UserStore(_settings(app).database_path)
    ids = {name: serializer.loads(cookie)["sid"] for name, cookie in (("expired", expired), ("idle", idle))}
    with conn:
        conn.execute("UPDATE web_sessions SET expires_at = ? WHERE id_hash = ?", (now - 1, session_key(ids["expired"])))
        conn.execute(
            "UPDATE web_sessions SET last_seen_at = ? WHERE id_hash = ?", (now - 3 * 3600, session_key(ids["idle"]))
        )
    assert replay(app, expired).status_code == 401
    assert replay(app, idle).status_code == 401
    assert replay(app, live).status_code == 200
    assert len(sessions_in_db(app)) == 1  # the two refused ones were deleted
    assert users.purge_expired_sessions() == 0


def test_a_new_sign_in_purges_expired_sessions_of_anyone(app):
    stolen_cookie(sign_in(app))
    conn = sqlite3.connect(_settings(app).database_path)
    with conn:
        conn.execute("UPDATE web_sessions SET expires_at = 0")
    sign_in(app, "root")
    assert [row["username"] for row in sessions_in_db(app)] == ["root"]


def test_signing_in_again_ends_the_browsers_previous_session(app):
    client = sign_in(app)
    before = stolen_cookie(client)
    token = _csrf(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token})
    assert stolen_cookie(client) != before
    assert replay(app, before).status_code == 401 and len(sessions_in_db(app)) == 1


def test_an_open_event_stream_ends_when_its_session_is_revoked(app):
    from bot.web import desk

    client = sign_in(app)
    response = client.get("/desk/events", buffered=False)
    chunks = response.response
    assert next(chunks).startswith(b"retry")
    assert b"event: queue" in next(chunks)
    started = time.monotonic()
    UserStore(_settings(app).database_path).set_password("ann", "another long password")
    rest = b"".join(chunks)
    assert b"event: failure" in rest and b"signed out" in rest
    # woken by the change itself (bot/storage/changes.py), not by the queue's periodic refresh
    assert time.monotonic() - started < desk.QUEUE_REFRESH / 2
