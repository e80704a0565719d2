"""The unanswered-questions inbox: what customers asked that the knowledge base did not answer.

Questions the bot was unsure about ("did you mean", a person offered) or that
ended with a person (bot/analytics/conversations.py) are grouped by meaning: per
language, a question joins the group whose centre it is closest to, if the
cosine reaches the threshold, else it starts a group. Most-asked texts are
placed first, so they become their groups' representatives.

Closeness is the embedding's cosine where the model tells the language's
texts apart; where it does not (the default English model on Arabic or
Russian puts any two texts close), it is the cosine of character n-grams, as
in the bot's own lexical signal. Each group carries the FAQ the bot ranks
first for it, as a hint of where the question may belong.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.analytics.conversations import AskedQuestion, TrackerReader, iso_time
from bot.analytics.junk import junk_reason
from bot.errors import FaqbotError
from bot.rasa.tracker import tracker_location
from bot.retrieval.calibration import dense_trust
from bot.retrieval.decision import CLARIFY, HANDOFF
from bot.retrieval.embedder import CachingEmbedder, Embedder
from bot.retrieval.service import FaqService
from bot.settings import Settings
from bot.text import normalize

log = logging.getLogger(__name__)

#: Cosine to a group's centre from which a question joins it. With
#: all-MiniLM-L6-v2 on shop questions, paraphrases ("do you sell gift cards",
#: "are gift vouchers available") join at 0.55 while the closest unrelated
#: pair scored 0.44.
DEFAULT_THRESHOLD = 0.55
#: The same for character n-grams (languages the model cannot separate): they
#: see shared words, not meaning, so wordings of one question score lower
#: (0.2-0.4 with a word in common, 0.85 for a variant spelling; unrelated below 0.12).
LEXICAL_THRESHOLD = 0.3
#: Embeddings are used where the model separates texts at least this well
#: (calibration.dense_trust of the typical cosine between unrelated texts).
MIN_DENSE_TRUST = 0.5
#: Distinct questions needed to estimate it from the questions themselves
#: (when the live index, which measured it on the KB, is not at hand).
MIN_BACKGROUND_SAMPLE = 3
#: Example texts kept per cluster for display.
EXAMPLES = 5


@dataclasses.dataclass(frozen=True)
class FaqHint:
    """The existing FAQ closest to a cluster, with the bot's calibrated score."""

    faq_id: str
    score: float
    question: str

    def to_dict(self) -> dict[str, object]:
        return {"faq_id": self.faq_id, "score": round(self.score, 4), "question": self.question}


@dataclasses.dataclass(frozen=True)
class Cluster:
    """Customers' unanswered questions that mean the same.

    ``id`` is stable: a hash of the language and the representative text (the
    most asked). ``texts`` are the distinct wordings, most asked first;
    ``count`` counts every time one was asked; ``outcomes`` how often the bot
    asked "did you mean" (clarify), offered a person (handoff) or a handoff
    started (handed_off). ``junk`` says why the representative is not a question an FAQ should
    learn (bot/analytics/junk.py: markup, only links, gibberish, too long), "" when it is one.
    """

    id: str
    representative: str
    languages: tuple[str, ...]
    count: int
    texts: tuple[str, ...]
    first_seen: float
    last_seen: float
    conversations: int
    outcomes: tuple[tuple[str, int], ...]
    hint: FaqHint | None = None
    junk: str = ""

    @property
    def examples(self) -> tuple[str, ...]:
        return self.texts[:EXAMPLES]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "representative": self.representative,
            "count": self.count,
            "examples": list(self.examples),
            "distinct": len(self.texts),
            "languages": list(self.languages),
            "first_seen": iso_time(self.first_seen),
            "last_seen": iso_time(self.last_seen),
            "conversations": self.conversations,
            "outcomes": dict(self.outcomes),
            "hint": self.hint.to_dict() if self.hint else None,
            "junk": self.junk or None,
        }


def cluster_id(lang: str, text: str) -> str:
    """A stable id for a cluster represented by ``text``."""
    return hashlib.sha256(f"{lang}\0{normalize(text, lang)}".encode()).hexdigest()[:12]


@dataclasses.dataclass
class _Wording:
    """One distinct text (after normalising) and every time it was asked."""

    key: str
    asked: list[AskedQuestion]

    @property
    def text(self) -> str:
        """The spelling customers used most (the first of them on a tie)."""
        counts: dict[str, int] = {}
        for q in self.asked:
            counts[q.text] = counts.get(q.text, 0) + 1
        return max(counts, key=lambda t: counts[t])


def cluster_questions(
    questions: Iterable[AskedQuestion],
    embedder: Embedder,
    threshold: float = DEFAULT_THRESHOLD,
    backgrounds: Mapping[str, float] | None = None,
    lexical_threshold: float = LEXICAL_THRESHOLD,
    max_chars: int | None = None,
) -> list[Cluster]:
    """Group questions by meaning, per language; the most asked clusters first (no hints yet).

    ``backgrounds`` is the embedding's typical cosine between unrelated texts per
    language (the live index knows it); where it is not given it is estimated
    from the questions. Junk (bot/analytics/junk.py; longer than ``max_chars``
    counts too) is grouped apart from real questions, and its clusters say why.
    """
    by_lang: dict[tuple[str, bool], dict[str, _Wording]] = {}
    for question in sorted(questions, key=lambda q: (q.timestamp, q.event_id)):
        key = normalize(question.text, question.lang).strip()
        if not key:
            continue
        junk = junk_reason(question.text, max_chars) is not None
        wordings = by_lang.setdefault((question.lang, junk), {})
        wordings.setdefault(key, _Wording(key, [])).asked.append(question)
    clusters = []
    for (lang, _junk), wordings in sorted(by_lang.items()):
        # Most asked first (then earliest): they found and name the clusters.
        ordered = sorted(wordings.values(), key=lambda w: -len(w.asked))
        background = (backgrounds or {}).get(lang)
        vectors = None
        if background is None or dense_trust(background) >= MIN_DENSE_TRUST:  # else no need to embed
            vectors = _unit(np.asarray(embedder.encode([w.text for w in ordered]), dtype=np.float32))
            if background is None:
                background = _background(vectors)
        if vectors is not None and dense_trust(background) >= MIN_DENSE_TRUST:
            groups = _leader_clusters(vectors, threshold)
        else:
            log.info("%s: the embedding does not separate its texts (%.2f): clustering on characters", lang, background)
            groups = _leader_clusters(_char_vectors([w.key for w in ordered]), lexical_threshold)
        clusters += [_cluster(lang, [ordered[i] for i in members], max_chars) for members in groups]
    clusters.sort(key=lambda c: (-c.count, -c.last_seen, c.id))
    return clusters


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def _background(unit: np.ndarray) -> float:
    """Median cosine between different questions: most pairs are unrelated (0, trusting the model, with too few)."""
    n = len(unit)
    if n < MIN_BACKGROUND_SAMPLE:
        return 0.0
    upper = np.triu_indices(n, k=1)
    return float(np.median((unit @ unit.T)[upper]))


def _char_vectors(texts: Sequence[str]) -> np.ndarray:
    """Unit TF-IDF vectors of character 2-4-grams (within words) of normalised texts."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, max_features=4096)
    return np.asarray(vectorizer.fit_transform(texts).toarray(), dtype=np.float32)


def _leader_clusters(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Greedy clustering: each row joins the closest centre at cosine >= threshold, or starts a cluster."""
    unit = _unit(vectors)
    members: list[list[int]] = []
    sums: list[np.ndarray] = []
    for i, vector in enumerate(unit):
        if sums:
            centres = np.stack(sums)
            centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
            similarity = centres @ vector
            best = int(np.argmax(similarity))
            if similarity[best] >= threshold:
                members[best].append(i)
                sums[best] = sums[best] + vector
                continue
        members.append([i])
        sums.append(vector.copy())
    return members


def _cluster(lang: str, wordings: Sequence[_Wording], max_chars: int | None = None) -> Cluster:
    asked = [q for w in wordings for q in w.asked]
    outcomes = {
        CLARIFY: sum(1 for q in asked if q.band == CLARIFY),
        HANDOFF: sum(1 for q in asked if q.band == HANDOFF),
        "handed_off": sum(1 for q in asked if q.handed_off),
    }
    texts = tuple(w.text for w in sorted(wordings, key=lambda w: -len(w.asked)))  # stable: ties keep first seen
    return Cluster(
        id=cluster_id(lang, texts[0]),
        representative=texts[0],
        languages=(lang,),
        count=len(asked),
        texts=texts,
        first_seen=min(q.timestamp for q in asked),
        last_seen=max(q.timestamp for q in asked),
        conversations=len({q.conversation_id for q in asked}),
        outcomes=tuple(outcomes.items()),
        junk=junk_reason(texts[0], max_chars) or "",
    )


def with_hints(clusters: Sequence[Cluster], service: FaqService) -> list[Cluster]:
    """The clusters with the FAQ the bot ranks first for each representative (none without an index)."""
    result = []
    for cluster in clusters:
        try:
            best = service.ask(cluster.representative, cluster.languages[0], k=1).decision.best
        except FaqbotError as exc:
            log.info("no FAQ hints: %s", exc)
            return list(clusters)
        hint = FaqHint(best.faq_id, best.score, best.question) if best is not None else None
        result.append(dataclasses.replace(cluster, hint=hint))
    return result


def index_backgrounds(service: FaqService, embedder: Embedder) -> dict[str, float]:
    """Per language, the mean cosine between unrelated KB phrasings, as measured when the index was built."""
    try:
        retriever = service.retriever
    except FaqbotError:
        return {}
    if retriever.index.model != embedder.name:
        return {}
    return {lang: ranker.dense_background for lang, ranker in retriever.rankers.items()}


#: FAQ hints a ``CachedClustering`` keeps (of the clusters it listed last).
HINT_CACHE_SIZE = 1024


class CachedClustering:
    """The inbox's clustering for reports made again and again (the dashboard's every load).

    ``cluster`` groups questions as ``cluster_questions`` does; ``hinted`` adds
    each cluster's FAQ hint as ``with_hints`` does. Between calls it keeps what
    changes only with the questions or the live index: each question's vector
    (``CachingEmbedder``) and the hints of recently listed clusters, by index
    folder, version, language and text. One per process (``bot.services``
    builds it); thread-safe.
    """

    def __init__(self, embedder: Embedder, service: FaqService, hint_cache_size: int = HINT_CACHE_SIZE) -> None:
        self.embedder = embedder
        self.service = service
        self.vectors = CachingEmbedder(embedder)
        self.hint_cache_size = hint_cache_size
        self._hints: OrderedDict[tuple[str, str, str, str], FaqHint] = OrderedDict()
        self._lock = threading.Lock()

    def cluster(self, questions: Iterable[AskedQuestion], threshold: float = DEFAULT_THRESHOLD) -> list[Cluster]:
        """``cluster_questions`` with the kept vectors and the live index's backgrounds."""
        return cluster_questions(questions, self.vectors, threshold, index_backgrounds(self.service, self.embedder))

    def hinted(self, clusters: list[Cluster]) -> list[Cluster]:
        """``with_hints``, asking the live index only about clusters it has not hinted yet."""
        try:
            where = (str(self.service.index_dir), self.service.index.version)
        except FaqbotError:
            return with_hints(clusters, self.service)  # no index: no hints, and with_hints' log line says why

        def key(cluster: Cluster) -> tuple[str, str, str, str]:
            return (*where, cluster.languages[0], cluster.representative)

        with self._lock:
            known = {key(c): self._hints[key(c)] for c in clusters if key(c) in self._hints}
            for seen in known:
                self._hints.move_to_end(seen)
        fresh = with_hints([c for c in clusters if key(c) not in known], self.service)
        with self._lock:
            for cluster in fresh:
                if cluster.hint is not None:  # none (no candidate, or the index failed): ask again next time
                    self._hints[key(cluster)] = known[key(cluster)] = cluster.hint
            while len(self._hints) > self.hint_cache_size:
                self._hints.popitem(last=False)
        return [dataclasses.replace(c, hint=known.get(key(c))) for c in clusters]


def unanswered_clusters(
    settings: Settings,
    since: str | float | datetime | None,
    until: str | float | datetime | None = None,
    lang: str | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    reader: TrackerReader | None = None,
    embedder: Embedder,
    service: FaqService | None = None,
) -> list[Cluster]:
    """The unanswered questions asked in ``[since, until)``, clustered, most asked first, with FAQ hints.

    Reads the tracker store of ``settings`` (or ``reader``); embeds with
    ``embedder``; hints (and how close unrelated texts are, per language) come
    from ``service``'s live index; without it the clusters have no hints.
    """
    reader = reader or TrackerReader(tracker_location(settings), settings.default_language, settings.http_timeout)
    questions = [q for q in reader.questions(since, until, lang) if q.unanswered]
    if not questions:
        return []
    limit = settings.inbox_max_question_chars
    if service is None:
        return cluster_questions(questions, embedder, threshold, max_chars=limit)
    clusters = cluster_questions(questions, embedder, threshold, index_backgrounds(service, embedder), max_chars=limit)
    return with_hints(clusters, service)
