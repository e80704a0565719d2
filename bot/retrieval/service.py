"""The FAQ service: the one code path from a customer's question to a decision.

The bot's actions, ``faqbot kb search`` and the web app all ask through
``FaqService.ask``. It serves the live index version and switches to a newly
built one (``faqbot kb build``) on the next question, atomically: one question
is always answered from one version.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.errors import IndexError_, ModelError
from bot.kb.models import FaqEntry
from bot.retrieval.adaptation import Adapters
from bot.retrieval.decision import Decision, combine, decide
from bot.retrieval.embedder import Embedder
from bot.retrieval.index import FaqIndex, current_version, load_index
from bot.retrieval.multilingual import encoder_for
from bot.retrieval.search import Candidate, Retriever
from bot.settings import Settings, Thresholds

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Answer:
    """A decision together with the index version it came from."""

    decision: Decision
    kb_version: str
    lang: str
    thresholds: Thresholds = Thresholds()
    #: The FAQs of the very index version that produced the decision (by "lang:id"),
    #: so an answer never mixes two versions when a new one goes live meanwhile.
    entries: Mapping[str, FaqEntry] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def entry(self, faq_id: str) -> FaqEntry | None:
        """The FAQ ``faq_id`` as it was in the version this answer came from."""
        return self.entries.get(f"{self.lang}:{faq_id}")


class FaqService:
    """Answers questions from the live index; reloads when a new version goes live."""

    def __init__(self, settings: Settings, embedder: Embedder, adapters: Adapters | None = None) -> None:
        """``adapters``: where the KB's adapters are loaded (shared with the process's KB builds); its own by
        default."""
        self.settings = settings
        self.embedder = embedder
        self.adapters = adapters or Adapters()
        self._lock = threading.Lock()
        self._retriever: Retriever | None = None
        self._load_error: str | None = None

    @property
    def index_dir(self) -> Path:
        return self.settings.index_dir

    def _live(self) -> Retriever:
        version = current_version(self.index_dir)
        retriever = self._retriever
        if retriever is not None and (version is None or retriever.index.version == version):
            return retriever
        with self._lock:
            retriever = self._retriever
            if retriever is not None and retriever.index.version == version:
                return retriever
            try:
                # A delta version (delta.py) of the index served now is applied to it: only the changes are read.
                index = load_index(self.index_dir, version, held=retriever.index if retriever is not None else None)
                if index.model != self.embedder.name:
                    raise IndexError_(
                        f"index {index.version} was built with {index.model!r}, "
                        f"but the configured model is {self.embedder.name!r}: run 'faqbot kb build'"
                    )
                encoder = self._encoder(index)
                retriever = Retriever(index, encoder, self._language_encoders(index, encoder), self.settings.ranking)
            except IndexError_ as exc:
                # Keep serving the previous version when the new one cannot be loaded.
                self._load_error = str(exc)
                log.error("cannot load index: %s", exc)
                if self._retriever is None:
                    raise
                return self._retriever
            self._retriever, self._load_error = retriever, None
            log.info("serving index version %s", index.version)
            return retriever

    @property
    def retriever(self) -> Retriever:
        """The retriever of the live index version."""
        return self._live()

    @property
    def index(self) -> FaqIndex:
        return self._live().index

    @property
    def load_error(self) -> str | None:
        return self._load_error

    def _encoder(self, index: FaqIndex) -> Embedder:
        """What embeds questions for ``index``: the model, with the KB's adapter when it was built with one."""
        base_model = getattr(self.embedder, "model", None)
        if index.adapter is None or not isinstance(base_model, str):
            return self.embedder
        encoder = self.adapters.get(
            base_model,
            self.index_dir,
            index.adapter,
            bool(getattr(self.embedder, "int8", False)),
            str(getattr(self.embedder, "runtime", "torch")),
        )
        try:
            encoder.warm_up()
        except ModelError as exc:
            raise IndexError_(f"index {index.version}: {exc}") from exc
        return encoder

    def _language_encoders(self, index: FaqIndex, encoder: Embedder) -> dict[str, Embedder]:
        """The languages ``index`` embedded with another encoder than ``encoder`` (multilingual.py), and it."""
        result = {}
        for lang in index.languages:
            stored = index.encoders.get(lang, encoder.name)
            routed = encoder_for(self.embedder, lang)
            wanted = routed.name if routed.name != self.embedder.name else encoder.name
            if stored != wanted:
                raise IndexError_(
                    f"index {index.version} embedded {lang} with {stored!r}, "
                    f"but the configured encoder is {wanted!r}: run 'faqbot kb build'"
                )
            if stored != encoder.name:
                result[lang] = routed
        return result

    def warm_up(self) -> None:
        """Load the model, the live index and its languages' text tools now rather than on the first question."""
        retriever = self._live()
        retriever.embedder.encode(["warm up"])
        for other in retriever.encoders.values():
            other.encode(["warm up"])
        for lang in retriever.rankers:
            retriever.search("warm up", lang)
        for lang in retriever.passage_rankers:
            retriever.search("warm up", lang, passages=True)

    def resolve_language(self, lang: str, index: FaqIndex | None = None) -> str:
        """``lang`` if the index has FAQs in it, else the default language."""
        languages = (index or self.index).languages
        if lang in languages:
            return lang
        return self.settings.default_language if self.settings.default_language in languages else languages[0]

    def thresholds(self, lang: str, retriever: Retriever | None = None, passages: bool = False) -> Thresholds:
        """The bands for ``lang`` (``passages``: for the help-center passages beside its FAQs): fitted on the
        live KB unless the operator set them.

        The evidence floors are the KB's either way: they depend on the model
        and the KB's phrasings, not on how cautious the operator wants the bands.
        """
        configured = self.settings.thresholds
        ranker = (retriever or self._live()).ranker(lang, passages)
        if ranker is None:
            return configured
        bands = configured
        if self.settings.fitted_thresholds and ranker.thresholds is not None:
            bands = dataclasses.replace(ranker.thresholds, max_choices=configured.max_choices)
        elif self.settings.fitted_thresholds and ranker.passage_char is not None:
            # Passages on the fixed blend (too few to fit on): the configured bands, at the passages' margin.
            bands = dataclasses.replace(configured, margin=self.settings.ranking.passage_margin)
        return dataclasses.replace(
            bands, dense_floor=ranker.dense_floor or 0.0, support_floor=ranker.support_floor or 0.0
        )

    def ask(self, text: str, lang: str, k: int = 5, allowed: Callable[[FaqEntry], bool] | None = None) -> Answer:
        """Rank the FAQs for ``text`` and decide: answer, clarify or hand off.

        With ``allowed``, the FAQs it rejects (restricted to another channel or
        audience) leave the ranking before the decision: the bot then answers
        with, or asks among, the allowed ones, or hands off; never with a rejected one.
        """
        retriever = self._live()
        lang = self.resolve_language(lang, retriever.index)
        query = text[: self.settings.max_message_chars]
        thresholds = self.thresholds(lang, retriever)
        decision = decide(self._ranked(retriever, query, lang, k, thresholds, allowed, False), thresholds)
        if retriever.ranker(lang, passages=True) is not None:
            # Help-center passages beside the FAQs: decided on their own calibration (calibration_passages.py).
            bands = self.thresholds(lang, retriever, passages=True)
            passages = decide(self._ranked(retriever, query, lang, k, bands, allowed, True), bands)
            decision = combine(decision, passages, thresholds.max_choices)
            if decision.best is not None and decision.best.faq_id in {c.faq_id for c in passages.candidates[:1]}:
                thresholds = bands
        return Answer(decision, retriever.index.version, lang, thresholds, retriever.index.entries)

    @staticmethod
    def _ranked(
        retriever: Retriever,
        query: str,
        lang: str,
        k: int,
        thresholds: Thresholds,
        allowed: Callable[[FaqEntry], bool] | None,
        passages: bool,
    ) -> list[Candidate]:
        """The candidates the decision looks at: the best ``k`` (or as many as it may offer) of the allowed."""
        depth = max(k, thresholds.max_choices)
        if allowed is None:
            return retriever.search(query, lang, k=depth, passages=passages)
        # Rank every FAQ so that filtering still leaves ``depth`` candidates when it can.
        ranked = retriever.search(query, lang, k=len(retriever.index.entries), passages=passages)
        return [c for c in ranked if _allows(retriever.index.entry(c.faq_id, c.lang), allowed)][:depth]


def _allows(entry: FaqEntry | None, allowed: Callable[[FaqEntry], bool]) -> bool:
    return entry is not None and allowed(entry)
