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


class Retriever:
    """Ranks the FAQs of one index version for a question in a given language."""

    def __init__(
        self,
        index: FaqIndex,
        embedder: Embedder,
        depth: int = 50,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.depth = depth
        self._lexical = {
            lang: _LexicalIndex(lang, [index.rows[i].text for i in ids])
            for lang, ids in index.row_ids_by_lang.items()
            if len(ids)
        }
        self.calibration = {lang: self._calibrate(lang) for lang in self._lexical}

    def _calibrate(self, lang: str, max_queries: int = 2000) -> Calibration:
        row_ids = self.index.row_ids_by_lang[lang]
        local = np.arange(len(row_ids))
        if len(local) > max_queries:
            local = np.sort(np.random.default_rng(0).choice(local, max_queries, replace=False))
        vectors = self.index.vectors[row_ids]
        dense = vectors[local] @ vectors.T
        lexical = self._lexical[lang].row_similarities(local)
        faq_ids = [self.index.rows[int(i)].faq_id for i in row_ids]
        return fit_calibration(dense, lexical, local, faq_ids)

    def search(self, text: str, lang: str, k: int = 5) -> list[Candidate]:
        """The ``k`` best FAQs in ``lang`` for ``text``, best first."""
        if lang not in self.index.faiss_by_lang or not text.strip():
            return []
        row_ids = self.index.row_ids_by_lang[lang]
        query = self.embedder.encode([text])
        depth = min(self.depth, len(row_ids))
        _, local = self.index.faiss_by_lang[lang].search(query, depth)
        lexical = self._lexical[lang].similarities(text)

        # Candidates: the FAQs behind the best dense rows and the best lexical rows;
        # then both scores exactly, as the best over each FAQ's phrasings.
        picked = {int(i) for i in local[0] if i >= 0}
        picked.update(int(i) for i in np.argsort(-lexical)[:depth])
        faq_ids = {self.index.rows[int(row_ids[i])].faq_id for i in picked}
        dense_all = self.index.vectors[row_ids] @ query[0]
        best: dict[str, tuple[float, float]] = {}
        for local_id, row_id in enumerate(row_ids):
            faq_id = self.index.rows[int(row_id)].faq_id
            if faq_id not in faq_ids:
                continue
            d, lx = float(dense_all[local_id]), float(lexical[local_id])
            old = best.get(faq_id, (-1.0, 0.0))
            best[faq_id] = (max(old[0], d), max(old[1], lx))

        candidates = []
        for faq_id, (dense, lex) in best.items():
            entry = self.index.entry(faq_id, lang)
            if entry is None:
                continue
            score = self.calibration[lang].probability(dense, lex)
            candidates.append(Candidate(faq_id, lang, score, dense, lex, entry.question, entry.tags))
        candidates.sort(key=lambda c: (-c.score, c.faq_id))
        return candidates[:k]
