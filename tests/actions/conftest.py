"""Every action test runs against a temporary KB, index and database, with 24/7 business hours."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import services
from bot.kb.loader import load_knowledge_base
from bot.retrieval.index import build_index
from bot.settings import get_settings
from tests.conftest import HashingEmbedder


@pytest.fixture(autouse=True)
def action_env(monkeypatch, tmp_path: Path, small_kb: Path):
    env = {
        "FAQBOT_KB_DIR": str(small_kb),
        "FAQBOT_VAR_DIR": str(tmp_path / "var"),
        "FAQBOT_LANGUAGES": "en,ru",
        "FAQBOT_EMBEDDING_MODEL": "hashing-test-embedder",
        "FAQBOT_ANSWER_THRESHOLD": "0.6",
        "FAQBOT_CLARIFY_THRESHOLD": "0.3",
        "FAQBOT_CLARIFY_MARGIN": "1.0",
        "FAQBOT_BUSINESS_HOURS": "24/7",
        "FAQBOT_SURVEY_AFTER_MINUTES": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    services.faq_service.cache_clear()
    services.handoff_store.cache_clear()
    services.handoff_spool.cache_clear()
    services.user_store.cache_clear()
    fake = HashingEmbedder()
    monkeypatch.setattr(services, "embedder", lambda settings=None: fake)
    build_index(load_knowledge_base(small_kb, ("en", "ru")), fake, tmp_path / "var" / "index")
    yield
    get_settings.cache_clear()
    services.faq_service.cache_clear()
    services.handoff_store.cache_clear()
    services.handoff_spool.cache_clear()
    services.user_store.cache_clear()
