"""How Rasa is started: no secret on a command line, JWT auth, every allowed origin, size and rate settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.run import child_env, service_commands
from bot.errors import ConfigError
from bot.settings import from_env
from channels.serve import rasa_arguments

SECRETS = {"FAQBOT_RASA_TOKEN": "rasa-secret-1", "FAQBOT_API_TOKEN": "api-secret-2", "FAQBOT_SECRET_KEY": "key-3"}


@pytest.fixture
def settings(tmp_path: Path):
    return from_env(
        {
            **SECRETS,
            "FAQBOT_VAR_DIR": str(tmp_path),
            "FAQBOT_WEB_PORT": "8100",
            "FAQBOT_WIDGET_ORIGINS": "https://shop.example",
        }
    )


def test_no_secret_is_on_any_command_line(settings):
    commands = service_commands(settings, Path("models/m.tar.gz"))
    for command in commands.values():
        assert not any(secret in part for part in command for secret in SECRETS.values()), command
    assert commands["rasa"][1:3] == ["-m", "channels.serve"]
    assert child_env(settings)["FAQBOT_RASA_TOKEN"] == "rasa-secret-1"  # the environment carries it


def test_rasa_is_run_with_jwt_auth_and_every_allowed_origin(settings):
    from rasa.__main__ import create_argument_parser

    args = create_argument_parser().parse_args(rasa_arguments(settings, "m.tar.gz", "c.yml", "e.yml"))
    assert args.jwt_secret == "rasa-secret-1" and args.jwt_method == "HS256" and args.auth_token is None
    assert args.cors == ["http://localhost:8100", "http://127.0.0.1:8100", "https://shop.example"]
    assert (args.interface, args.port, args.enable_api) == ("127.0.0.1", 5005, True)


def test_rasa_without_a_secret_would_be_open_so_it_does_not_start(settings):
    with pytest.raises(ConfigError):
        rasa_arguments(settings.replace(rasa_token=""), "m", "c", "e")


def test_sanic_refuses_bodies_over_the_setting(settings):
    assert settings.replace(max_request_bytes=1234).sanic_limits() == {
        "SANIC_REQUEST_MAX_SIZE": "1234",
        "SANIC_WEBSOCKET_MAX_SIZE": "1234",
    }


def test_origins_include_the_public_web_url_once():
    settings = from_env({"FAQBOT_PUBLIC_WEB_URL": "https://help.example/", "FAQBOT_WIDGET_ORIGINS": "*"})
    assert settings.rasa_origins == ("http://localhost:8000", "http://127.0.0.1:8000", "https://help.example", "*")
    assert from_env({}).rasa_origins == ("http://localhost:8000", "http://127.0.0.1:8000")


@pytest.mark.parametrize(
    "raw, rate",
    [("", (60, 60.0)), ("off", (0, 0.0)), ("30/minute", (30, 60.0)), ("5/90s", (5, 90.0)), ("100/hour", (100, 3600.0))],
)
def test_rate_limit_setting(raw, rate):
    settings = from_env({"FAQBOT_RATE_LIMIT": raw})
    assert settings.rest_rate_limit == rate
    assert from_env(child_env(settings)).rest_rate_limit == rate  # what the services get


@pytest.mark.parametrize(
    "env",
    [
        {"FAQBOT_RATE_LIMIT": "lots"},
        {"FAQBOT_RATE_LIMIT": "0/minute"},
        {"FAQBOT_RATE_LIMIT": "5/fortnight"},
        {"FAQBOT_MAX_REQUEST_BYTES": "100"},  # below the longest message
    ],
)
def test_bad_limits_are_config_errors(env):
    with pytest.raises(ConfigError):
        from_env(env)


def test_ready_says_whether_the_model_is_loaded() -> None:
    import asyncio
    from types import SimpleNamespace

    from channels.serve import ready

    def asked(agent: object) -> int:
        request = SimpleNamespace(app=SimpleNamespace(ctx=SimpleNamespace(agent=agent)))
        return asyncio.run(ready(request)).status  # type: ignore[arg-type]

    assert asked(None) == 503  # Rasa's server listens before its model is loaded
    assert asked(SimpleNamespace(is_ready=lambda: False)) == 503
    assert asked(SimpleNamespace(is_ready=lambda: True)) == 200
