"""Adapting the embedding model to the KB (bot/retrieval/adaptation.py), with the real model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bot.kb.jsonl import load_jsonl_kb
from bot.retrieval import adaptation, onnx_fusion
from bot.retrieval.adaptation import eligible_rows, holdout
from bot.retrieval.embedder import SentenceTransformerEmbedder
from bot.retrieval.index import build_index, is_stale, load_index, rows_for
from bot.retrieval.service import FaqService
from bot.settings import Ranking, Settings

TOPICS = {
    "password": "reset my password",
    "parcel": "track my parcel",
    "cancel": "cancel my order",
    "address": "change the delivery address",
    "refund": "get my money back",
    "card": "update my card details",
    "close": "close my account",
    "invoice": "download an invoice",
}
TEMPLATES = [
    "how do I {}", "I want to {}", "can you help me {}", "I need to {} now", "what is the way to {}",
    "please {}", "is it possible to {}", "tell me how to {}", "where can I {}", "I would like to {}",
    "help me {} quickly", "how can I {} today", "I am trying to {}", "could I {}", "steps to {}",
    "want to {} asap", "can I {} online", "how would I {}", "show me how to {}", "I have to {}",
    "need help to {}", "is there a way to {}", "what do I do to {}", "explain how to {}", "let me {}",
]  # fmt: skip
RANKING = Ranking(adapt_min_rows=100, adapt_min_per_faq=10, adapt_epochs=6, min_band_phrasings=50)


def _kb(path: Path, extra: str | None = None) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for faq, topic in TOPICS.items():
            phrasings = [template.format(topic) for template in TEMPLATES]
            if extra and faq == "refund":
                phrasings.append(extra)
            handle.write(json.dumps({"id": faq, "lang": "en", "question": phrasings[0],
                                     "alternates": phrasings[1:], "answer": f"How to {topic}."}) + "\n")  # fmt: skip
    return path


def test_holdout_keeps_a_share_of_every_faq_and_two_to_train_on():
    groups = ["a"] * 9 + ["b"] * 3 + ["c"] * 2
    texts = [f"text {n}" for n in range(len(groups))]
    held = holdout(groups, texts, 1 / 3)
    assert held[:9].sum() == 3 and held[9:12].sum() == 1 and held[12:].sum() == 0
    # chosen by text: another FAQ's new phrasing moves nothing, and the order of rows does not matter
    again = holdout([*groups, "a"], [*texts, "a new one"], 1 / 3)
    assert (again[9:14] == held[9:]).all()
    assert (holdout(groups[::-1], texts[::-1], 1 / 3) == held[::-1]).all()


def test_only_languages_with_enough_phrasings_are_adapted():
    langs = ["en"] * 200 + ["ar"] * 30
    faqs = [f"f{n % 10}" for n in range(200)] + [f"g{n % 10}" for n in range(30)]
    mask = eligible_rows(langs, faqs, Ranking(adapt_min_rows=100, adapt_min_per_faq=10))
    assert mask[:200].all() and not mask[200:].any()
    assert not eligible_rows(langs, faqs, Ranking(adapt=False)).any()
    assert not eligible_rows(langs, faqs, Ranking(adapt_min_rows=100, adapt_min_per_faq=30)).any()
    # only languages the model knows (the default model: English)
    arabic = eligible_rows(["ar"] * 200, faqs[:200], Ranking(adapt_min_rows=100, adapt_min_per_faq=10))
    assert not arabic.any()
    assert eligible_rows(
        ["ar"] * 200, faqs[:200], Ranking(adapt_min_rows=100, adapt_min_per_faq=10, model_languages=("en", "ar"))
    ).all()


@pytest.mark.slow
def test_adapting_separates_held_out_phrasings_and_the_bot_asks_through_the_adapter(settings: Settings, tmp_path: Path):
    kb = load_jsonl_kb(_kb(tmp_path / "faqs.jsonl"))
    local = dataclasses.replace(settings, var_dir=tmp_path / "var", languages=("en",), ranking=RANKING)
    base = SentenceTransformerEmbedder()
    report = build_index(kb, base, local.index_dir, RANKING)
    assert report.adapter and report.adapt_seconds > 0
    index = load_index(local.index_dir)
    assert index.adapter == report.adapter
    manifest = json.loads((report.path / "manifest.json").read_text())
    assert manifest["encoder"].endswith("@" + report.adapter) and manifest["adaptation"]["steps"] > 0
    info = adaptation.load_info(local.index_dir, report.adapter)
    assert info is not None
    rows = rows_for(kb.entries)
    held = np.array([r.text_hash not in info.trained for r in rows])
    assert 0.25 < held.mean() < 0.4  # a third of each FAQ's phrasings was never trained on
    labels = np.array([r.faq_id for r in rows])

    def separation(vectors: np.ndarray) -> float:
        """Held-out phrasings: best cosine to their own FAQ's trained phrasings minus the best to another FAQ's."""
        similarity = vectors[held] @ vectors[~held].T
        own = labels[held][:, None] == labels[~held][None, :]
        return float((np.where(own, similarity, -1).max(1) - np.where(own, -1, similarity).max(1)).mean())

    before = separation(base.encode([r.text for r in rows]))
    after = separation(index.vectors)
    assert after > before + 0.05, (before, after)

    service = FaqService(local, base)
    assert service.retriever.embedder.name == f"{base.name}@{report.adapter}"
    # the question path embeds exactly as the build did
    text = rows[5].text
    assert np.allclose(service.retriever.embedder.encode([text])[0], index.vectors[5], atol=1e-5)
    assert service.ask("what is the way to get my money back", "en").decision.best.faq_id == "refund"
    # ... and so it does on ONNX Runtime (the product's default): the adapted model exported into its folder
    onnx_service = FaqService(local, SentenceTransformerEmbedder(runtime="onnx", onnx_dir=tmp_path / "onnx"))
    onnx_encoder = onnx_service.retriever.embedder
    assert onnx_encoder.name == service.retriever.embedder.name and onnx_encoder.backend == "onnx"
    assert np.abs(onnx_encoder.encode([r.text for r in rows[:20]]) - index.vectors[:20]).max() < 1e-5
    adapter_folder = local.index_dir / adaptation.ADAPTERS_DIR / report.adapter
    (export,) = adapter_folder.glob("model-*.onnx")
    assert onnx_fusion.attention_layers(export) == 6  # ONNX Runtime's fused attention, as for the base model

    # the calibration learnt only from phrasings the adapter never saw
    ranker = index.rankers["en"]
    assert ranker.calibration.samples == int(held.sum()) * len(TOPICS)

    # a hot reload keeps the adapter (live in seconds); a full build trains this KB's own
    edited = load_jsonl_kb(_kb(tmp_path / "faqs.jsonl", extra="I was charged twice and want it returned"))
    reload = build_index(edited, base, local.index_dir, RANKING, adapt="reuse")
    assert reload.adapter == report.adapter and reload.adapt_seconds == 0 and reload.embedded == 1
    assert is_stale(edited, local.index_dir, base.model, RANKING)
    assert build_index(edited, base, local.index_dir, RANKING, adapt="reuse").unchanged
    full = build_index(edited, base, local.index_dir, RANKING)
    assert full.adapter != report.adapter and full.adapt_seconds > 0
    # a new version, which a running bot switches to, asking through the new adapter
    assert full.version != reload.version and service.retriever.embedder.name.endswith(full.adapter)
    assert not is_stale(edited, local.index_dir, base.model, RANKING)
    assert build_index(edited, base, local.index_dir, RANKING).unchanged
