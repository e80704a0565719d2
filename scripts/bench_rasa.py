"""Peer (c) of `make bench`: Rasa 3.6's DIET classifier trained on the same FAQs.

This is how Rasa documents FAQs without a retrieval system: one intent per
FAQ, its question and alternates as training examples, Rasa's default NLU
pipeline (whitespace tokens, lexical/syntactic features, word and char_wb
1-4 count vectors, DIET), and a FallbackClassifier that turns low confidence
into "nlu_fallback" (our hand-off). Answer-only entries (XQuAD-R) have no
example questions, so DIET cannot be trained on them.

Prints one JSON object (last line): the same metrics as faqbot's eval, plus
the training time, which is also the time for an edited KB to go live (Rasa
retrains from scratch).

Usage: python scripts/bench_rasa.py FAQS.jsonl QUERIES.jsonl [--epochs N] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from bot.analytics.evaluation import LabelledQuery, Outcome, load_queries, report  # noqa: E402
from bot.kb.jsonl import load_jsonl_kb  # noqa: E402
from bot.retrieval.decision import ANSWER, HANDOFF  # noqa: E402
from bot.retrieval.search import Candidate  # noqa: E402

#: Rasa's FallbackClassifier default threshold (rasa init's config.yml).
FALLBACK_THRESHOLD = 0.3


def config_yaml(epochs: int, lang: str) -> str:
    return f"""recipe: default.v1
language: {lang}
pipeline:
- name: WhitespaceTokenizer
- name: RegexFeaturizer
- name: LexicalSyntacticFeaturizer
- name: CountVectorsFeaturizer
- name: CountVectorsFeaturizer
  analyzer: char_wb
  min_ngram: 1
  max_ngram: 4
- name: DIETClassifier
  epochs: {epochs}
  entity_recognition: false
  ranking_length: 10
  constrain_similarities: true
- name: FallbackClassifier
  threshold: {FALLBACK_THRESHOLD}
policies: []
"""


def nlu_yaml(kb_path: Path) -> tuple[str, str, int]:
    kb = load_jsonl_kb(kb_path)
    lines = ['version: "3.1"', "nlu:"]
    intents = 0
    for entry in kb.entries:
        examples = [t for t in (entry.question, *entry.alternates) if t]
        if not examples:
            continue
        intents += 1
        lines.append(f"- intent: {_intent(entry.id)}")
        lines.append("  examples: |")
        lines += [f"    - {' '.join(t.split())}" for t in examples]
    return "\n".join(lines) + "\n", kb.languages[0], intents


def _intent(faq_id: str) -> str:
    return "faq__" + "".join(c if c.isalnum() or c in "-_" else "_" for c in faq_id)


async def _parse_all(model: str, queries: list[LabelledQuery]) -> list[Outcome]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    outcomes = []
    for query in queries:
        started = time.perf_counter()
        parsed = await agent.parse_message(query.text)
        ms = (time.perf_counter() - started) * 1000
        ranking = parsed.get("intent_ranking") or []
        candidates = tuple(
            Candidate(r["name"][len("faq__") :], query.lang, float(r["confidence"]), 0.0, 0.0, r["name"])
            for r in ranking
            if r["name"].startswith("faq__")
        )
        band = HANDOFF if parsed["intent"]["name"] == "nlu_fallback" or not candidates else ANSWER
        outcomes.append(Outcome(query, candidates, band, ms))
    return outcomes


def run(faqs: Path, queries_path: Path, epochs: int, limit: int | None) -> dict[str, object]:
    from rasa.model_training import train_nlu

    nlu, lang, intents = nlu_yaml(faqs)
    if intents < 2:
        return {"skipped": "answer-only entries: no example questions to train DIET on"}
    queries = load_queries(queries_path, limit)
    # The intent ids of the KB and of the queries must match the rewritten names.
    ids = {_intent(e.id)[len("faq__") :]: e.id for e in load_jsonl_kb(faqs).entries}
    with tempfile.TemporaryDirectory(prefix="faqbot-diet-") as tmp:
        folder = Path(tmp)
        (folder / "config.yml").write_text(config_yaml(epochs, lang), encoding="utf-8")
        (folder / "nlu.yml").write_text(nlu, encoding="utf-8")
        started = time.perf_counter()
        model = train_nlu(str(folder / "config.yml"), str(folder / "nlu.yml"), str(folder / "models"))
        train_seconds = time.perf_counter() - started
        if not model:
            raise SystemExit("rasa train nlu produced no model")
        outcomes = asyncio.run(_parse_all(model, queries))
    outcomes = [
        Outcome(
            o.query,
            tuple(Candidate(ids.get(c.faq_id, c.faq_id), c.lang, c.score, 0.0, 0.0, c.question) for c in o.candidates),
            o.band,
            o.ms,
        )
        for o in outcomes
    ]
    result = report(outcomes)
    result.update(epochs=epochs, train_seconds=round(train_seconds, 1), fallback_threshold=FALLBACK_THRESHOLD)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("faqs", type=Path)
    parser.add_argument("queries", type=Path)
    parser.add_argument("--epochs", type=int, default=100, help="DIET epochs (Rasa's FAQ examples use 100)")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, help="also write the JSON result here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for name in ("rasa", "tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.WARNING)
    result = run(args.faqs, args.queries, args.epochs, args.limit)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result), encoding="utf-8")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
