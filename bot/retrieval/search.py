"""Hybrid FAQ search: dense (FAISS), character n-grams, stemmed words and the KB classifier, fused per FAQ."""

from __future__ import annotations

import dataclasses

import numpy as np

from bot.retrieval.calibration import ANSWER_TEXT, CLASSIFIER, DENSE, LEXICAL, WORDS, Calibration
from bot.retrieval.embedder import Embedder
from bot.retrieval.index import FaqIndex


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A FAQ that may answer the question: calibrated confidence and the raw signals."""

    faq_id: str
    lang: str
    score: float
    dense: float
    lexical: float
    question: str
    tags: tuple[str, ...] = ()
    words: float = 0.0
    classifier: float = 0.0
    answer: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.faq_id,
            "lang": self.lang,
            "score": round(self.score, 4),
            "dense": round(self.dense, 4),
            "lexical": round(self.lexical, 4),
            "words": round(self.words, 4),
            "classifier": round(self.classifier, 4),
            "answer": round(self.answer, 4),
            "question": self.question,
            "tags": list(self.tags),
        }


class Retriever:
    """Ranks the FAQs of one index version for a question in a given language."""

    def __init__(self, index: FaqIndex, embedder: Embedder, depth: int = 1024) -> None:
        self.index = index
        self.embedder = embedder
        self.depth = depth
        self.rankers = {lang: ranker for lang, ranker in index.rankers.items() if ranker.faq_ids}

    @property
    def calibration(self) -> dict[str, Calibration]:
        return {lang: ranker.calibration for lang, ranker in self.rankers.items()}

    def signals(self, text: str, lang: str) -> tuple[list[str], np.ndarray]:
        """Every FAQ of ``lang`` and its signals for ``text``: (FAQ ids, array of FAQs x SIGNALS)."""
        ranker = self.rankers[lang]
        dense = vector = None
        if ranker.needs_embedding:
            vector, dense = self.dense(text, lang)
        return ranker.faq_ids, ranker.signals(text, dense, vector)

    def dense(self, text: str, lang: str) -> tuple[np.ndarray, np.ndarray]:
        """The question's embedding and each FAQ's best cosine to it (FAISS over the language's phrasings)."""
        vector = self.embedder.encode([text])
        row_ids = self.index.row_ids_by_lang[lang]
        depth = min(self.depth, len(row_ids))
        scores, found = self.index.faiss_by_lang[lang].search(vector, depth)
        valid = found[0] >= 0
        # Rows past the search depth score at most the last one returned.
        floor = scores[0][valid].min() if valid.any() else 0.0
        dense_rows = np.full(len(row_ids), floor, dtype=np.float32)
        dense_rows[found[0][valid]] = scores[0][valid]
        return vector[0], self.rankers[lang].groups.per_faq_max(dense_rows)

    def search(self, text: str, lang: str, k: int = 5) -> list[Candidate]:
        """The ``k`` best FAQs in ``lang`` for ``text``, best first."""
        if lang not in self.rankers or not text.strip():
            return []
        faq_ids, signals = self.signals(text, lang)
        probability = self.rankers[lang].calibration.probabilities(signals)
        top = np.argsort(-probability, kind="stable")[:k]
        candidates = []
        for n in top:
            entry = self.index.entry(faq_ids[n], lang)
            if entry is None:
                continue
            row = signals[n]
            candidates.append(
                Candidate(
                    entry.id,
                    lang,
                    float(probability[n]),
                    float(row[DENSE]),
                    float(row[LEXICAL]),
                    entry.title,
                    entry.tags,
                    words=float(row[WORDS]),
                    classifier=float(row[CLASSIFIER]),
                    answer=float(row[ANSWER_TEXT]),
                )
            )
        return candidates
