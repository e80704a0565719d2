"""The effective credentials file: channels switched on by their environment variables."""

from __future__ import annotations

import stat

import pytest
import yaml

from bot.errors import ConfigError
from bot.rasa.channels import (
    channel_status,
    effective_credentials,
    read_template,
    write_credentials,
    write_endpoints,
)
from bot.settings import PROJECT_ROOT

TEMPLATE = """
rest:
socketio:
  session_persistence: true
callback:
  url: ${CB_URL}
  token: ${CB_TOKEN:-}
telegram:
  access_token: ${TG_TOKEN}
  verify: ${TG_NAME}
  api_server: ${TG_API:-https://api.telegram.org}
"""


@pytest.fixture
def template(tmp_path):
    path = tmp_path / "credentials.yml"
    path.write_text(TEMPLATE, encoding="utf-8")
    return path


def test_without_variables_only_the_always_on_channels_remain(template):
    assert effective_credentials(read_template(template), {}) == {
        "rest": None,
        "socketio": {"session_persistence": True},
    }


def test_a_channel_is_on_when_all_its_required_variables_are_set(template):
    env = {"CB_URL": "http://127.0.0.1:9/cb", "TG_TOKEN": "123:abc"}
    credentials = effective_credentials(read_template(template), env)
    assert credentials["callback"] == {"url": "http://127.0.0.1:9/cb"}  # empty optional token dropped
    assert "telegram" not in credentials
    (telegram,) = [s for s in channel_status(read_template(template), env) if s.name == "telegram"]
    assert not telegram.enabled and telegram.missing == ("TG_NAME",)


def test_optional_variables_fall_back_to_their_default(template):
    env = {"TG_TOKEN": "123:abc", "TG_NAME": "shop_bot"}
    assert effective_credentials(read_template(template), env)["telegram"] == {
        "access_token": "123:abc",
        "verify": "shop_bot",
        "api_server": "https://api.telegram.org",
    }
    env["TG_API"] = "http://127.0.0.1:8081"
    assert effective_credentials(read_template(template), env)["telegram"]["api_server"] == "http://127.0.0.1:8081"


def test_the_written_file_is_private_and_rasa_reads_secrets_verbatim(template, tmp_path):
    out = write_credentials(template, tmp_path / "var" / "credentials.yml", {"CB_URL": "http://h/x?a=${NOT_A_VAR}"})
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text(encoding="utf-8")
    assert '"url": "http://h/x?a=${NOT_A_VAR}"' in text  # double-quoted: Rasa's ${...} expansion leaves it alone
    assert yaml.safe_load(text)["callback"]["url"] == "http://h/x?a=${NOT_A_VAR}"


def test_the_project_template_has_every_connector_and_starts_with_none_configured():
    template = read_template(PROJECT_ROOT / "credentials.yml")
    assert set(template) == {
        "channels.rest.RestInput",
        "channels.socketio.SocketIOInput",
        "channels.callback.CallbackInput",
        "channels.telegram.TelegramInput",
        "channels.slack.SlackInput",
        "channels.facebook.FacebookInput",
        "channels.twilio.TwilioInput",
    }
    assert set(effective_credentials(template, {})) == {"channels.rest.RestInput", "channels.socketio.SocketIOInput"}


def test_a_broken_template_is_a_config_error(tmp_path):
    path = tmp_path / "credentials.yml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        read_template(path)


def test_the_endpoints_get_the_race_free_lock_store_only_when_redis_is_configured(tmp_path, monkeypatch):
    from rasa.core.utils import read_endpoints_from_path

    template = PROJECT_ROOT / "endpoints.yml"
    monkeypatch.setenv("FAQBOT_ACTION_ENDPOINT", "http://127.0.0.1:1/webhook")
    monkeypatch.setenv("FAQBOT_TRACKER_DB", str(tmp_path / "tracker.db"))
    monkeypatch.setenv("FAQBOT_REDIS_URL", "redis://:s3cret@127.0.0.1:6390/2")

    plain = write_endpoints(template, tmp_path / "plain.yml", "")
    assert read_endpoints_from_path(plain).lock_store is None

    clustered = write_endpoints(template, tmp_path / "clustered.yml", "redis://:s3cret@127.0.0.1:6390/2")
    assert "s3cret" not in clustered.read_text("utf-8")  # the URL stays in the environment
    lock_store = read_endpoints_from_path(clustered).lock_store
    assert lock_store.type == "channels.lock_store.AtomicRedisLockStore"
    assert lock_store.url == "redis://:s3cret@127.0.0.1:6390/2"


def test_a_template_with_its_own_lock_store_and_redis_configured_is_refused(tmp_path):
    template = tmp_path / "endpoints.yml"
    template.write_text("lock_store:\n  type: redis\n", "utf-8")
    with pytest.raises(ConfigError, match="lock_store already"):
        write_endpoints(template, tmp_path / "out.yml", "redis://127.0.0.1:6379/0")


def test_a_redis_url_that_is_not_one_is_refused():
    from bot.settings import from_env

    with pytest.raises(ConfigError, match="FAQBOT_REDIS_URL"):
        from_env({"FAQBOT_REDIS_URL": "127.0.0.1:6379"})
