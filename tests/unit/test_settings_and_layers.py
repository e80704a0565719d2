from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import PROJECT_ROOT, from_env


def test_defaults_resolve_from_the_project_root():
    settings = from_env({})
    assert settings.kb_dir == PROJECT_ROOT / "knowledge_base"
    assert settings.index_dir == PROJECT_ROOT / "var" / "index"
    assert (settings.rasa_port, settings.action_port, settings.web_port) == (5005, 5055, 8000)
    assert settings.languages == ("en", "ar", "ru")


def test_environment_overrides(tmp_path: Path):
    settings = from_env(
        {
            "FAQBOT_HOME": str(tmp_path),
            "FAQBOT_KB_DIR": "kb",
            "FAQBOT_RASA_PORT": "6005",
            "FAQBOT_ANSWER_THRESHOLD": "0.7",
            "FAQBOT_LANGUAGES": "en,ru",
            "FAQBOT_EMBEDDING_MODEL": "/models/other",
        }
    )
    assert settings.kb_dir == tmp_path / "kb" and settings.var_dir == tmp_path / "var"
    assert settings.rasa_port == 6005 and settings.thresholds.answer == 0.7
    assert settings.languages == ("en", "ru") and settings.embedding_model == "/models/other"
    # a threshold set by the operator wins over the bands fitted on the KB
    assert not settings.fitted_thresholds and from_env({}).fitted_thresholds


def test_ranking_settings_from_the_environment():
    ranking = from_env(
        {"FAQBOT_CLASSIFIER": "off", "FAQBOT_CLASSIFIER_C": "0.25", "FAQBOT_CALIBRATION_FOLDS": "5"}
    ).ranking
    assert not ranking.classifier and ranking.classifier_c == 0.25 and ranking.folds == 5
    assert from_env({}).ranking.classifier


@pytest.mark.parametrize(
    "env",
    [
        {"FAQBOT_RASA_PORT": "abc"},
        {"FAQBOT_ANSWER_THRESHOLD": "0.2", "FAQBOT_CLARIFY_THRESHOLD": "0.5"},
        {"FAQBOT_LANGUAGES": "en", "FAQBOT_DEFAULT_LANGUAGE": "ru"},
        {"FAQBOT_CALIBRATION_FOLDS": "1"},
        {"FAQBOT_FALLBACK_CHAR_SHARE": "1.5"},
    ],
)
def test_invalid_settings_are_rejected(env):
    with pytest.raises(ConfigError):
        from_env(env)


def test_only_settings_reads_the_environment():
    readers = []
    for path in (PROJECT_ROOT / "bot").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "os.environ[" in text or "os.getenv" in text or "environ.get(" in text:
            readers.append(path.name)
    assert readers == []


BOOLEANS = {
    "FAQBOT_EMBEDDING_INT8": ("embedding_int8",),
    "FAQBOT_CLASSIFIER": ("ranking", "classifier"),
    "FAQBOT_ANSWER_FIELD": ("ranking", "answer_field"),
    "FAQBOT_PASSAGE_BM25": ("ranking", "passage_bm25"),
    "FAQBOT_ADAPT": ("ranking", "adapt"),
    "FAQBOT_SECURE_COOKIES": ("secure_cookies",),
    "FAQBOT_SURVEY_CES": ("survey_ces",),
    "FAQBOT_KB_RELOAD": ("kb_reload",),
}


def _value(settings, path: tuple[str, ...]):
    for name in path:
        settings = getattr(settings, name)
    return settings


@pytest.mark.parametrize("variable", sorted(BOOLEANS))
def test_every_boolean_is_read_one_way_and_a_typo_is_refused(variable: str):
    """One parser for every on/off setting: before, a typo meant on for some, off for others, an error for a few."""
    for text, expected in (("on", True), ("YES", True), ("1", True), ("off", False), ("False", False), ("0", False)):
        assert _value(from_env({variable: text}), BOOLEANS[variable]) is expected
    with pytest.raises(ConfigError, match=f"{variable}='of' is neither on nor off"):
        from_env({variable: "of"})


def test_every_boolean_setting_is_in_that_list():
    import dataclasses

    from bot.settings import Ranking, Settings

    declared = {
        field.metadata["env"][0]
        for cls in (Settings, Ranking)
        for field in dataclasses.fields(cls)
        if "env" in field.metadata and field.type == "bool"
    }
    assert declared == set(BOOLEANS)


def test_services_elsewhere_are_reached_at_their_urls():
    local = from_env({})
    assert (local.rasa_url, local.action_server_url) == ("http://127.0.0.1:5005", "http://127.0.0.1:5055")
    # bound to every interface (a container): reached on loopback from inside, not at "0.0.0.0"
    assert from_env({"FAQBOT_HOST": "0.0.0.0"}).rasa_url == "http://127.0.0.1:5005"
    apart = from_env({"FAQBOT_RASA_URL": "http://rasa:5005/", "FAQBOT_ACTION_SERVER_URL": "http://actions:5055"})
    assert (apart.rasa_url, apart.action_server_url) == ("http://rasa:5005", "http://actions:5055")
    for variable in ("FAQBOT_RASA_URL", "FAQBOT_ACTION_SERVER_URL"):
        with pytest.raises(ConfigError, match=variable):
            from_env({variable: "rasa:5005"})
