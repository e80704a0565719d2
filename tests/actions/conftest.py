"""Every action test runs against a temporary KB, index and database, with 24/7 business hours.

The action server's services (``actions.runtime``) are built here for that environment, with a small
fake model; a test that changes a variable builds them again with ``reconfigure()``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from actions import runtime
from bot.kb.loader import load_knowledge_base
from bot.retrieval.index import build_index
from bot.services import Services
from bot.settings import from_env
from tests.conftest import HashingEmbedder


def reconfigure() -> Services:
    """The action server's services for the environment as it is now (the same fake model)."""
    services = Services(from_env(), runtime.services().embedder)
    runtime.use(services)
    return services


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
    fake = HashingEmbedder()
    runtime.use(Services(from_env(), fake))
    build_index(load_knowledge_base(small_kb, ("en", "ru")), fake, tmp_path / "var" / "index")
    yield
    runtime.use(None)
