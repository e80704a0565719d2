"""The faqbot exception hierarchy: every error faqbot raises on purpose is a FaqbotError."""

from __future__ import annotations


class FaqbotError(Exception):
    """Root of faqbot's own exceptions."""


class ConfigError(FaqbotError):
    """A setting is missing or invalid."""


class KnowledgeBaseError(FaqbotError):
    """The knowledge base cannot be loaded or is invalid."""


class IndexError_(FaqbotError):
    """The search index is missing, stale or unreadable."""


class ModelError(FaqbotError):
    """The embedding model cannot be found or loaded."""


class HandoffError(FaqbotError):
    """A handoff ticket could not be stored or read."""


class InvalidInput(FaqbotError):
    """Input that can never be accepted as it is (a rating outside its scale, ...): the caller's mistake,
    shown to users as invalid input, never as a store or service failure."""
