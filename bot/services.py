"""The shared services of one process, built by its entry point and passed on: nothing is hidden in a module.

The web app's factory (``bot.web.create_app``), the action server's main
(``python -m actions``, which hands it to the actions through
``actions.runtime``) and the command line (``faqbot``) each build one
``Services`` for their settings and pass it to what they run. Building it
loads nothing: each service is made on first use, once per ``Services``
(one embedding model, one live index, one store of each kind per process),
and the model loads at its first question or at ``faq.warm_up()``. Tests
build their own, with a small fake model where the model is not the point.
"""

from __future__ import annotations

import functools

from bot.analytics.unanswered import CachedClustering
from bot.handoff.mail import MailComposer
from bot.handoff.spool import HandoffSpool
from bot.handoff.store import HandoffStore
from bot.rasa.client import RasaClient
from bot.ratelimit import RateStore, rate_store
from bot.retrieval.adaptation import Adapters
from bot.retrieval.embedder import Embedder, SentenceTransformerEmbedder
from bot.retrieval.multilingual import E5Embedder, LanguageEmbedders
from bot.retrieval.service import FaqService
from bot.settings import Settings
from bot.storage.accounts import LoginThrottle, UserStore
from bot.storage.changes import ChangeFeed
from bot.storage.database import Database
from bot.storage.feedback import FeedbackStore
from bot.storage.tokens import ApiTokenStore


class Services:
    """Everything a process shares, for one ``Settings``: made on first use, then the same object each time.

    ``embedder``: the model to use instead of the configured one (tests pass a
    small fake).
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._given_embedder = embedder

    def with_settings(self, settings: Settings) -> Services:
        """Services for other settings (another KB folder, a scratch var folder) sharing this one's model and
        loaded adapters when the model is the same; everything else is made anew."""
        if settings == self.settings:
            return self
        same_model = _models(settings) == _models(self.settings)
        if not same_model:
            return Services(settings)
        other = Services(settings, self.embedder)
        other.__dict__["adapters"] = self.adapters
        return other

    @functools.cached_property
    def embedder(self) -> Embedder:
        """The embedding model (loaded on its first encode). With ``ranking.multilingual_languages``, an
        ``Embedder`` that routes those languages to the multilingual encoder (retrieval/multilingual.py)."""
        if self._given_embedder is not None:
            return self._given_embedder
        s = self.settings
        default = SentenceTransformerEmbedder(
            s.embedding_model, int8=s.embedding_int8, runtime=s.embedding_runtime, onnx_dir=s.onnx_dir
        )
        languages = s.ranking.multilingual_languages
        if not languages:
            return default
        return LanguageEmbedders(
            default, E5Embedder(s.multilingual_threads, s.multilingual_runtime, s.onnx_dir), languages
        )

    @functools.cached_property
    def adapters(self) -> Adapters:
        """The KB's adapted models, shared by the FAQ service and the KB builds of this process."""
        return Adapters()

    @functools.cached_property
    def faq(self) -> FaqService:
        """The FAQ service: the one decision path, over the live index."""
        return FaqService(self.settings, self.embedder, self.adapters)

    @functools.cached_property
    def clustering(self) -> CachedClustering:
        """The grouping of the report's unanswered questions, keeping vectors and hints between reports."""
        return CachedClustering(self.embedder, self.faq)

    @functools.cached_property
    def handoff_store(self) -> HandoffStore:
        """The handoff ticket store."""
        s = self.settings
        mail = MailComposer(s.smtp_from, s.smtp_reply_to, s.default_language) if s.email_replies else None
        return HandoffStore(
            s.database,
            timeout=s.http_timeout,
            webhook=bool(s.webhook_url),
            desk_url=s.web_url,
            max_text=s.max_message_chars,
            mail=mail,
            agents=self.user_store.display_name,
        )

    @functools.cached_property
    def handoff_spool(self) -> HandoffSpool:
        """Where handoffs wait while the ticket store is unavailable."""
        return HandoffSpool(self.settings.handoff_spool_dir)

    @functools.cached_property
    def feedback_store(self) -> FeedbackStore:
        """Customers' votes on answers."""
        return FeedbackStore(self.settings.database, timeout=self.settings.http_timeout)

    @functools.cached_property
    def user_store(self) -> UserStore:
        """Desk users and their sessions."""
        s = self.settings
        return UserStore(
            s.database,
            timeout=s.http_timeout,
            session_seconds=s.session_hours * 3600.0,
            idle_seconds=s.session_idle_minutes * 60.0,
        )

    @functools.cached_property
    def token_store(self) -> ApiTokenStore:
        """The HTTP API's tokens."""
        return ApiTokenStore(self.settings.database, timeout=self.settings.http_timeout)

    @functools.cached_property
    def login_throttle(self) -> LoginThrottle:
        """The sign-in throttle (its counts live in the shared database)."""
        s = self.settings
        return LoginThrottle(
            s.database,
            window=s.login_window_minutes * 60.0,
            per_account=s.login_max_failures,
            per_address=s.login_max_failures_per_address,
            per_user=s.login_max_failures_per_user,
            timeout=s.http_timeout,
        )

    @functools.cached_property
    def changes(self) -> ChangeFeed:
        """Changes to faqbot's database, from any process (the desk's live pages wait on it)."""
        return ChangeFeed(Database(self.settings.database, timeout=self.settings.http_timeout))

    @functools.cached_property
    def rate_store(self) -> RateStore:
        """Where per-address request counts live: Redis shared by the replicas, or this process's memory."""
        return rate_store(self.settings.redis_url)

    def rasa(self, timeout: float | None = None) -> RasaClient:
        """A client of Rasa's HTTP API (``timeout``: the settings' HTTP timeout by default)."""
        s = self.settings
        return RasaClient(s.rasa_url, s.rasa_token, timeout=s.http_timeout if timeout is None else timeout)


def _models(settings: Settings) -> tuple[object, ...]:
    """What decides the embedding models ``Services.embedder`` makes for ``settings``."""
    return (
        settings.embedding_model,
        settings.embedding_int8,
        settings.embedding_runtime,
        settings.ranking.multilingual_languages,
        settings.multilingual_threads,
        settings.multilingual_runtime,
    )
