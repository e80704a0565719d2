"""Hybrid FAQ search: dense (FAISS), character n-grams, stemmed words and the KB classifier, fused per FAQ."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import faiss
import numpy as np

from bot.errors import IndexError_
from bot.retrieval import ann
from bot.retrieval.calibration import ANSWER_TEXT, CLASSIFIER, DENSE, LEXICAL, WORDS, Calibration
from bot.retrieval.embedder import Embedder
from bot.retrieval.index import FaqIndex
from bot.retrieval.ranker import LanguageRanker
from bot.settings import Ranking


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
    #: How broadly the FAQ's phrasings resemble the question (RowGroups.support; 0 without embeddings).
    support: float = 0.0
    #: Answer-only entries ranked with the embedding: the dense and the character n-gram
    #: signals both rank this passage first (see decision.decide); True elsewhere.
    agrees: bool = True

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
            "support": round(self.support, 4),
            "question": self.question,
            "tags": list(self.tags),
        }


class Retriever:
    """Ranks the FAQs of one index version for a question in a given language."""

    def __init__(
        self,
        index: FaqIndex,
        embedder: Embedder,
        encoders: Mapping[str, Embedder] | None = None,
        ranking: Ranking | None = None,
    ) -> None:
        self.index = index
        #: How an approximate language is searched: its ``ann_candidates`` nearest, HNSW's ``ann_ef_search``,
        #: and (``first_stage``) only a first stage's candidates scored (LanguageRanker.candidate_signals).
        self.ranking = ranking or Ranking()
        self.embedder = embedder
        #: Languages whose questions another encoder embeds (multilingual.py); the rest use ``embedder``.
        self.encoders = dict(encoders or {})
        self.rankers = {lang: ranker for lang, ranker in index.rankers.items() if ranker.faq_ids}
        #: Languages with help-center passages beside their FAQs: the passages' ranker, and the positions
        #: of the FAQs' and of the passages' rows among the language's rows (which one FAISS index holds).
        self.passage_rankers = {lang: ranker for lang, ranker in index.passage_rankers.items() if ranker.faq_ids}
        self.row_subsets = {lang: _row_subsets(index, lang) for lang in self.passage_rankers}
        #: Languages searched by an approximate index (ann.py): their FAISS index; the rest are scored exactly.
        self.approximate = {
            lang: ann.prepare(dense, self.ranking.ann_ef_search)
            for lang, dense in index.faiss_by_lang.items()
            if ann.kind_of(dense) != ann.EXACT
        }
        self.matrices = {
            lang: stored_vectors(flat) for lang, flat in index.faiss_by_lang.items() if lang not in self.approximate
        }
        if self.approximate:
            ann.search_one_thread()

    @property
    def calibration(self) -> dict[str, Calibration]:
        return {lang: ranker.calibration for lang, ranker in self.rankers.items()}

    def signals(self, text: str, lang: str) -> tuple[list[str], np.ndarray]:
        """Every FAQ of ``lang`` and its signals for ``text``: (FAQ ids, array of FAQs x SIGNALS)."""
        faq_ids, signals, _, _ = self._signals(text, lang, first_stage=False)
        return faq_ids, signals

    def ranker(self, lang: str, passages: bool = False) -> LanguageRanker | None:
        """The ranker of ``lang``'s FAQs, or (``passages``) of the passages beside them; None when it has none."""
        return (self.passage_rankers if passages else self.rankers).get(lang)

    def _signals(
        self, text: str, lang: str, passages: bool = False, first_stage: bool = True
    ) -> tuple[list[str], np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``signals``, the question's cosine to every phrasing (None when the embedding is not used), and
        the positions of the FAQs the signals' rows are (None: every FAQ, in order).

        A language searched by an approximate dense index, whose ranker has a first stage, gets only the
        candidates' rows (``LanguageRanker.candidate_signals``): scoring every passage's BM25 and fusion
        grows with the KB, a first stage does not (docs/scaling.md). ``first_stage`` False: every FAQ.
        """
        ranker = (self.passage_rankers if passages else self.rankers)[lang]
        dense = vector = rows = None
        if ranker.needs_embedding:
            vector = self.encoder(lang).encode([text])[0]
            approximate = self.approximate.get(lang)
            if approximate is not None and first_stage and self.ranking.first_stage and ranker.has_first_stage:
                k = self.ranking.ann_candidates
                scores, ids = ann.nearest(approximate, vector, k, approximate.ntotal)
                rows = self._own_rows(ann.spread(scores, ids, approximate.ntotal), lang, passages)
                nearest = ranker.groups.group[self._own_ids(ids, lang, passages)]
                positions, signals = ranker.candidate_signals(
                    text, ranker.groups.per_faq_max(rows), nearest, k, self.ranking.first_stage_common
                )
                return ranker.faq_ids, signals, rows, positions
            rows = self._own_rows(self.row_cosines(vector, lang), lang, passages)
            dense = ranker.groups.per_faq_max(rows)
        return ranker.faq_ids, ranker.signals(text, dense, vector), rows, None

    def _own_rows(self, cosines: np.ndarray, lang: str, passages: bool) -> np.ndarray:
        """The cosines of the rows a ranker knows: all of the language's, or the FAQs' or the passages'."""
        subset = self.row_subsets.get(lang)
        return cosines if subset is None else cosines[subset[1 if passages else 0]]

    def _own_ids(self, ids: np.ndarray, lang: str, passages: bool) -> np.ndarray:
        """Of the language's rows ``ids``, those a ranker knows, as its own row numbers (see ``_own_rows``)."""
        subset = self.row_subsets.get(lang)
        if subset is None:
            return ids
        own = subset[1 if passages else 0]  # ascending
        at = np.minimum(np.searchsorted(own, ids), max(len(own) - 1, 0))
        return at[own[at] == ids] if len(own) else at[:0]

    def dense(self, text: str, lang: str) -> tuple[np.ndarray, np.ndarray]:
        """The question's embedding and each FAQ's best cosine to it, over every phrasing of the language.

        The ranking needs every FAQ's score, not the nearest few phrasings, so
        this is one matrix-vector product over the vectors the flat FAISS index
        holds: exact, as the build's calibration is, and 0.22 ms for
        Banking77's 9,038 phrasings against 1.0 ms for FAISS's top-1,024
        search (one question is too few for FAISS's batched BLAS path).
        """
        vector = self.encoder(lang).encode([text])[0]
        return vector, self.rankers[lang].groups.per_faq_max(
            self._own_rows(self.row_cosines(vector, lang), lang, False)
        )

    def row_cosines(self, vector: np.ndarray, lang: str) -> np.ndarray:
        """``vector``'s cosine to every phrasing of ``lang``: exact, or as the approximate index knows it
        (ann.nearest_rows: the ``ann_candidates`` nearest exactly, the rest at most the least of those)."""
        approximate = self.approximate.get(lang)
        if approximate is None:
            return self.matrices[lang] @ vector  # type: ignore[no-any-return]
        return ann.nearest_rows(approximate, vector, self.ranking.ann_candidates, approximate.ntotal)

    def encoder(self, lang: str) -> Embedder:
        """What embeds questions in ``lang``."""
        return self.encoders.get(lang, self.embedder)

    def search(self, text: str, lang: str, k: int = 5, passages: bool = False) -> list[Candidate]:
        """The ``k`` best FAQs in ``lang`` for ``text``, best first (``passages``: the help-center passages
        of a language that has FAQs too, ranked by their own ranker)."""
        rankers = self.passage_rankers if passages else self.rankers
        if lang not in rankers or not text.strip():
            return []
        faq_ids, signals, rows, positions = self._signals(text, lang, passages)
        ranker = rankers[lang]
        groups = ranker.groups
        probability = ranker.calibration.probabilities(signals)
        top = best_first(probability, k)
        agreed = None
        if ranker.agreement and ranker.passage_char is not None and rows is not None and len(signals):
            # Two independent rankings, the meaning and the spelling, that pick the same passage.
            first = int(np.argmax(signals[:, DENSE]))
            agreed = first if first == int(np.argmax(signals[:, LEXICAL])) else -1
        candidates = []
        for n in top:
            faq = int(n) if positions is None else int(positions[n])  # the FAQ's position in faq_ids
            entry = self.index.entry(faq_ids[faq], lang)
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
                    support=groups.support(rows, faq) if rows is not None else 0.0,
                    agrees=agreed is None or agreed == int(n),
                )
            )
        return candidates


def _row_subsets(index: FaqIndex, lang: str) -> tuple[np.ndarray, np.ndarray]:
    """The positions of ``lang``'s FAQ rows and of its passage rows among its rows (index order)."""
    rows = [index.rows[int(i)] for i in index.row_ids_by_lang[lang]]
    is_passage = np.array([bool((e := index.entry(r.faq_id, lang)) and e.is_passage) for r in rows], dtype=bool)
    return np.flatnonzero(~is_passage), np.flatnonzero(is_passage)


def best_first(scores: np.ndarray, k: int) -> np.ndarray:
    """The positions of the ``k`` highest ``scores``, best first, ties in position order: the start of a
    stable argsort, without sorting every FAQ (100,000 passages: 6 ms against 0.5)."""
    if len(scores) <= 4 * k:
        return np.argsort(-scores, kind="stable")[:k]
    threshold = np.partition(scores, len(scores) - k)[len(scores) - k]
    chosen = np.flatnonzero(scores >= threshold)
    return chosen[np.argsort(-scores[chosen], kind="stable")][:k]  # type: ignore[no-any-return]


def stored_vectors(flat: faiss.Index) -> np.ndarray:
    """The vectors of a flat inner-product FAISS index, as a read-only numpy view of its storage (no copy).

    The view is valid while the index lives and is not added to; a loaded
    index version is never changed.
    """
    if not isinstance(flat, faiss.IndexFlat) or flat.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise IndexError_(
            f"expected a flat inner-product FAISS index, found {type(flat).__name__}: run 'faqbot kb build'"
        )
    view = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)
    view.flags.writeable = False
    return view  # type: ignore[no-any-return]
