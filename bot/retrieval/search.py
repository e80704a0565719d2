"""Hybrid FAQ search: dense (FAISS) plus lexical character n-grams, fused per FAQ."""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.retrieval.calibration import Calibration, fit_calibration
from bot.retrieval.embedder import Embedder
from bot.retrieval.index import FaqIndex
from bot.text import normalize


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A FAQ that may answer the question: calibrated confidence and the raw similarities."""

    faq_id: str
    lang: str
    score: float
    dense: float
    lexical: float
    question: str
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.faq_id,
            "lang": self.lang,
            "score": round(self.score, 4),
            "dense": round(self.dense, 4),
            "lexical": round(self.lexical, 4),
            "question": self.question,
            "tags": list(self.tags),
        }


class _LexicalIndex:
    """Character n-gram TF-IDF over one language's phrasings (robust to typos and spelling)."""

    def __init__(self, lang: str, texts: list[str]) -> None:
        self.lang = lang
        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=1, dtype=np.float32
        )
        self.matrix = self.vectorizer.fit_transform([normalize(t, lang) for t in texts])

    def similarities(self, query: str) -> np.ndarray:
        vector = self.vectorizer.transform([normalize(query, self.lang)])
        return np.asarray((self.matrix @ vector.T).todense()).ravel()

    def row_similarities(self, rows: np.ndarray) -> np.ndarray:
        """Similarities of the given rows (as queries) to every row."""
        return np.asarray((self.matrix[rows] @ self.matrix.T).todense())


class _LanguageRows:
    """One language's rows grouped by FAQ, for per-FAQ maxima in one numpy call."""

    def __init__(self, index: FaqIndex, lang: str) -> None:
        self.row_ids = index.row_ids_by_lang[lang]
        faq_of_row = [index.rows[int(i)].faq_id for i in self.row_ids]
        self.faq_ids = sorted(set(faq_of_row))
        position = {faq_id: n for n, faq_id in enumerate(self.faq_ids)}
        groups = np.array([position[f] for f in faq_of_row], dtype=np.int64)
        self.order = np.argsort(groups, kind="stable")
        self.starts = np.flatnonzero(np.r_[True, np.diff(groups[self.order]) != 0])
        self.faq_of_row = faq_of_row

    def per_faq_max(self, row_scores: np.ndarray) -> np.ndarray:
        return np.maximum.reduceat(row_scores[self.order], self.starts)


class Retriever:
    """Ranks the FAQs of one index version for a question in a given language."""

    def __init__(self, index: FaqIndex, embedder: Embedder, depth: int = 1024) -> None:
        self.index = index
        self.embedder = embedder
        self.depth = depth
        self._rows = {lang: _LanguageRows(index, lang) for lang, ids in index.row_ids_by_lang.items() if len(ids)}
        self._lexical = {
            lang: _LexicalIndex(lang, [index.rows[int(i)].text for i in rows.row_ids])
            for lang, rows in self._rows.items()
        }
        self.calibration = {lang: self._calibrate(lang) for lang in self._rows}

    def _calibrate(self, lang: str, max_queries: int = 2000) -> Calibration:
        rows = self._rows[lang]
        local = np.arange(len(rows.row_ids))
        if len(local) > max_queries:
            local = np.sort(np.random.default_rng(0).choice(local, max_queries, replace=False))
        vectors = self.index.vectors[rows.row_ids]
        dense = vectors[local] @ vectors.T
        lexical = self._lexical[lang].row_similarities(local)
        return fit_calibration(dense, lexical, local, rows.faq_of_row)

    def signals(self, text: str, lang: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Every FAQ of ``lang`` with its best dense and lexical similarity to ``text``."""
        rows = self._rows[lang]
        query = self.embedder.encode([text])
        depth = min(self.depth, len(rows.row_ids))
        scores, found = self.index.faiss_by_lang[lang].search(query, depth)
        valid = found[0] >= 0
        # Rows past the search depth score at most the last one returned.
        dense_rows = np.full(len(rows.row_ids), scores[0][valid].min() if valid.any() else 0.0, dtype=np.float32)
        dense_rows[found[0][valid]] = scores[0][valid]
        dense = rows.per_faq_max(dense_rows)
        lexical = rows.per_faq_max(self._lexical[lang].similarities(text))
        return rows.faq_ids, dense, lexical

    def search(self, text: str, lang: str, k: int = 5) -> list[Candidate]:
        """The ``k`` best FAQs in ``lang`` for ``text``, best first."""
        if lang not in self._rows or not text.strip():
            return []
        faq_ids, dense, lexical = self.signals(text, lang)
        probability = self.calibration[lang].probabilities(dense, lexical)
        top = np.argsort(-probability, kind="stable")[:k]
        candidates = []
        for n in top:
            entry = self.index.entry(faq_ids[n], lang)
            if entry is None:
                continue
            candidates.append(
                Candidate(
                    entry.id, lang, float(probability[n]), float(dense[n]), float(lexical[n]), entry.title, entry.tags
                )
            )
        return candidates
