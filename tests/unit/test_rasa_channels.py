"""The effective credentials file: channels switched on by their environment variables."""

from __future__ import annotations

import stat

import pytest
import yaml

from bot.errors import ConfigError
from bot.rasa.channels import channel_status, effective_credentials, read_template, write_credentials
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
