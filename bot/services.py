"""The shared services of one process, created lazily on first use.

Rasa's action server instantiates every action with no arguments, so actions
(and the web app) fetch the FAQ service and the handoff store from here: one
embedding model, one live index and one store per process.
"""

from __future__ import annotations

import functools
from pathlib import Path

from bot.accounts import LoginThrottle, UserStore
from bot.faq import FaqService
from bot.feedback import FeedbackStore
from bot.handoff.mail import MailComposer
from bot.handoff.spool import HandoffSpool
from bot.handoff.store import HandoffStore
from bot.retrieval.embedder import Embedder, SentenceTransformerEmbedder
from bot.retrieval.multilingual import E5Embedder, LanguageEmbedders
from bot.settings import Settings, get_settings


@functools.cache
def _embedder(model: str, int8: bool, runtime: str, onnx_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(model, int8=int8, runtime=runtime, onnx_dir=onnx_dir)


@functools.cache
def _multilingual(threads: int) -> E5Embedder:
    return E5Embedder(threads)


def embedder(settings: Settings | None = None) -> Embedder:
    """The process-wide embedder for the configured model (loaded on first encode).

    With ``ranking.multilingual_languages``, it routes those languages to the
    multilingual encoder (retrieval/multilingual.py, one per process).
    """
    settings = settings or get_settings()
    default = _embedder(
        settings.embedding_model, settings.embedding_int8, settings.embedding_runtime, settings.onnx_dir
    )
    languages = settings.ranking.multilingual_languages
    return LanguageEmbedders(default, _multilingual(settings.multilingual_threads), languages) if languages else default


@functools.cache
def faq_service(settings: Settings | None = None) -> FaqService:
    """The process-wide FAQ service for ``settings`` (the environment's by default)."""
    settings = settings or get_settings()
    return FaqService(settings, embedder(settings))


@functools.cache
def handoff_store(settings: Settings | None = None) -> HandoffStore:
    """The process-wide handoff ticket store."""
    settings = settings or get_settings()
    mail = None
    if settings.email_replies:
        mail = MailComposer(settings.smtp_from, settings.smtp_reply_to, settings.default_language)
    return HandoffStore(
        settings.database_path,
        timeout=settings.http_timeout,
        webhook=bool(settings.webhook_url),
        desk_url=settings.web_url,
        max_text=settings.max_message_chars,
        mail=mail,
    )


@functools.cache
def handoff_spool(settings: Settings | None = None) -> HandoffSpool:
    """Where handoffs wait while the ticket store is unavailable."""
    settings = settings or get_settings()
    return HandoffSpool(settings.handoff_spool_dir)


@functools.cache
def feedback_store(settings: Settings | None = None) -> FeedbackStore:
    """The process-wide store of customers' votes on answers."""
    settings = settings or get_settings()
    return FeedbackStore(settings.database_path, timeout=settings.http_timeout)


@functools.cache
def user_store(settings: Settings | None = None) -> UserStore:
    """The process-wide store of desk users and their sessions."""
    settings = settings or get_settings()
    return UserStore(
        settings.database_path,
        timeout=settings.http_timeout,
        session_seconds=settings.session_hours * 3600.0,
        idle_seconds=settings.session_idle_minutes * 60.0,
    )


@functools.cache
def login_throttle(settings: Settings | None = None) -> LoginThrottle:
    """The process-wide sign-in throttle (its counts live in the shared database)."""
    settings = settings or get_settings()
    return LoginThrottle(
        settings.database_path,
        window=settings.login_window_minutes * 60.0,
        per_account=settings.login_max_failures,
        per_address=settings.login_max_failures_per_address,
        per_user=settings.login_max_failures_per_user,
        timeout=settings.http_timeout,
    )
