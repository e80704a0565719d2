"""Sign-in throttling in the shared database: per address and username, per address across usernames
(password spraying), per username across addresses; every web process sees the same counts."""

from __future__ import annotations

import re

import pytest

from bot.errors import ConfigError
from bot.settings import Settings, from_env
from bot.storage.accounts import LoginThrottle, UserStore
from bot.web import create_app

PASSWORD = "correct horse battery"


@pytest.fixture
def settings_(settings: Settings) -> Settings:
    settings = settings.replace(rasa_port=1, action_port=1, secret_key="test-secret")
    UserStore(settings.database_path).add("ann", PASSWORD, role="agent")
    return settings


def attempt(app, username: str, password: str, address: str = "203.0.113.7"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def test_spraying_many_usernames_from_one_address_is_throttled(settings_: Settings):
    app = create_app(settings=settings_.replace(login_max_failures_per_address=8), test_config={"TESTING": True})
    for n in range(8):  # a different username each time: the per-account rule never trips
        assert attempt(app, f"user{n}", "Summer2024!").status_code == 401
    refused = attempt(app, "ann", PASSWORD)  # even the right password, from that address
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert re.search(r"Too many failed sign-ins\. Try again in 5 minutes \(at \d\d:\d\d UTC\)\.", page), page
    assert 290 <= int(refused.headers["Retry-After"]) <= 300
    assert attempt(app, "ann", PASSWORD, address="198.51.100.1").status_code == 302  # others are not affected


def test_one_username_from_many_addresses_is_throttled(settings_: Settings):
    app = create_app(settings=settings_.replace(login_max_failures_per_user=6), test_config={"TESTING": True})
    for n in range(6):  # a different address each time: the per-address rules never trip
        assert attempt(app, "ann", "guess", address=f"192.0.2.{n + 1}").status_code == 401
    refused = attempt(app, "ann", PASSWORD, address="192.0.2.200")
    assert refused.status_code == 429 and "Try again in 5 minutes" in refused.get_data(as_text=True)
    assert attempt(app, "bob", "whatever", address="192.0.2.200").status_code == 401  # other names still checked


def test_every_web_process_shares_the_counts(settings_: Settings):
    """Two apps on one database stand for two web processes: failures at one count at the other."""
    first = create_app(settings=settings_, test_config={"TESTING": True})
    second = create_app(settings=settings_, test_config={"TESTING": True})
    for n in range(5):
        app = (first, second)[n % 2]
        assert attempt(app, "ann", "wrong").status_code == 401
    assert attempt(first, "ann", PASSWORD).status_code == 429
    assert attempt(second, "ann", PASSWORD).status_code == 429


def test_the_window_passes_and_a_success_forgets_the_pairs_failures(settings_: Settings):
    throttle = LoginThrottle(settings_.database_path, window=300.0, per_account=3, per_address=0, per_user=0)
    for t in (1000.0, 1010.0, 1020.0):
        throttle.failed("10.0.0.1", "ann", now=t)
    assert throttle.retry_after("10.0.0.1", "ann", now=1030.0) == pytest.approx(270.0)  # until 1000 + 300
    assert throttle.retry_after("10.0.0.1", "ann", now=1300.0) == 0.0  # the first failure left the window
    assert throttle.retry_after("10.0.0.2", "ann", now=1030.0) == 0.0  # per_address and per_user are off
    throttle.succeeded("10.0.0.1", "ann")
    assert throttle.retry_after("10.0.0.1", "ann", now=1030.0) == 0.0


def test_old_failures_are_deleted_and_long_usernames_are_cut(settings_: Settings):
    import sqlite3

    throttle = LoginThrottle(settings_.database_path, window=60.0, per_account=5, per_address=5, per_user=5)
    throttle.failed("10.0.0.1", "x" * 10_000, now=0.0)
    throttle.failed("10.0.0.1", "ann", now=1000.0)
    rows = sqlite3.connect(settings_.database_path).execute("SELECT username FROM login_failures").fetchall()
    assert rows == [("ann",)]
    throttle.failed("10.0.0.1", "y" * 10_000, now=1001.0)
    lengths = [
        len(r[0]) for r in sqlite3.connect(settings_.database_path).execute("SELECT username FROM login_failures")
    ]
    assert max(lengths) == 64


def test_the_limits_are_settings():
    settings = from_env(
        {
            "FAQBOT_LOGIN_WINDOW_MINUTES": "10",
            "FAQBOT_LOGIN_MAX_FAILURES": "3",
            "FAQBOT_LOGIN_MAX_FAILURES_PER_ADDRESS": "50",
            "FAQBOT_LOGIN_MAX_FAILURES_PER_USER": "0",
            "FAQBOT_SESSION_HOURS": "8",
            "FAQBOT_SESSION_IDLE_MINUTES": "30",
            "FAQBOT_PROXY_HOPS": "1",
        }
    )
    assert (settings.login_window_minutes, settings.login_max_failures) == (10.0, 3)
    assert (settings.login_max_failures_per_address, settings.login_max_failures_per_user) == (50, 0)
    assert (settings.session_hours, settings.session_idle_minutes, settings.proxy_hops) == (8.0, 30.0, 1)
    for bad in ({"FAQBOT_LOGIN_MAX_FAILURES": "-1"}, {"FAQBOT_SESSION_HOURS": "0"}, {"FAQBOT_PROXY_HOPS": "x"}):
        with pytest.raises(ConfigError):
            from_env(bad)


def test_behind_a_trusted_proxy_the_clients_address_is_counted(settings_: Settings):
    app = create_app(
        settings=settings_.replace(proxy_hops=1, login_max_failures_per_address=2), test_config={"TESTING": True}
    )

    def via_proxy(client_address: str, username: str):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "127.0.0.1"  # the proxy
        client.environ_base["HTTP_X_FORWARDED_FOR"] = client_address
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
        return client.post("/login", data={"username": username, "password": "nope", "csrf_token": token})

    assert [via_proxy("203.0.113.9", f"u{n}").status_code for n in range(3)] == [401, 401, 429]
    assert via_proxy("198.51.100.4", "u9").status_code == 401  # another client behind the same proxy
