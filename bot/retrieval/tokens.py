"""The text tools of the rankers: normalised, tokenised, stemmed words, per language.

spaCy's blank tokenizers, Snowball stemmers and spaCy's stop words, loaded
once per language on first use (``load_text_tools`` loads them at start-up).
These caches hold pure functions of the text, never a service or a setting.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import snowballstemmer

from bot.text import normalize

_STEM_LOCK = threading.Lock()
_STEMMERS = {"en": "english", "ar": "arabic", "ru": "russian", "fr": "french", "de": "german", "es": "spanish"}


def _spacy() -> Any:
    """spaCy, imported on first use (it is slow to import), without PyTorch.

    spaCy's machine-learning library (thinc) imports PyTorch whenever it is
    installed, for models faqbot never loads; here only blank tokenizers and
    stop-word lists are used. PyTorch costs a process ~500 MB, and the action
    server and the web app otherwise never import it (the embedding model runs
    on ONNX Runtime), so it is hidden while spaCy is imported: thinc then
    records that it has no PyTorch. PyTorch stays importable afterwards.
    """
    if "spacy" in sys.modules:
        return sys.modules["spacy"]
    hidden = "torch" not in sys.modules
    if hidden:
        sys.modules["torch"] = None  # type: ignore[assignment]  # makes ``import torch`` raise ImportError
    try:
        import spacy
    finally:
        if hidden and sys.modules.get("torch", False) is None:
            del sys.modules["torch"]
    return spacy


@functools.lru_cache(maxsize=16)
def _tokenizer(lang: str) -> Callable[[str], object] | None:
    spacy = _spacy()
    try:
        return spacy.blank(lang).tokenizer  # type: ignore[no-any-return]
    except (ImportError, KeyError, ValueError):
        return None


@functools.lru_cache(maxsize=16)
def _stemmer(lang: str) -> snowballstemmer.stemmer | None:
    name = _STEMMERS.get(lang)
    return snowballstemmer.stemmer(name) if name else None


@functools.lru_cache(maxsize=16)
def _stop_words(lang: str) -> frozenset[str]:
    """spaCy's stop words for ``lang``, normalised as the text is (empty when spaCy has none)."""
    spacy = _spacy()
    try:
        words = spacy.blank(lang).Defaults.stop_words
    except (ImportError, KeyError, ValueError):
        return frozenset()
    return frozenset(normalize(word, lang) for word in words)


@functools.lru_cache(maxsize=65536)
def word_tokens(lang: str, text: str, skip_stop_words: bool = False) -> list[str]:
    """Normalised, stemmed word tokens of ``text`` (module-level so vectorizers pickle).

    Cached: a question is tokenised for the word, answer and classifier
    features alike, and a hot reload's refit stems only the phrasings that
    changed (stemming was half the refit time). The list is shared, so
    callers must not change it.
    """
    clean = normalize(text, lang)
    tokenizer = _tokenizer(lang)
    tokens = [t.text for t in tokenizer(clean) if not t.is_space] if tokenizer else clean.split()  # type: ignore[attr-defined]
    if skip_stop_words:
        stop = _stop_words(lang)
        tokens = [t for t in tokens if t not in stop]
    return [_stem(lang, token) for token in tokens] if _stemmer(lang) else tokens


@functools.lru_cache(maxsize=1 << 17)
def _stem(lang: str, word: str) -> str:
    """One word's stem, cached: a new question's words are mostly words seen before, and Snowball in
    Python is slow (docs/benchmarks.md, Notes: Latency). A Snowball stemmer keeps the word it works
    on in itself, so one thread stems at a time."""
    with _STEM_LOCK:
        return _stemmer(lang).stemWord(word)  # type: ignore[union-attr]


def load_text_tools(languages: Sequence[str]) -> None:
    """Load spaCy's tokenizers, the stemmers and the stop words of ``languages`` now.

    spaCy's import and a blank pipeline are slow on first use (docs/benchmarks.md,
    Notes): paid at start-up, not by the first edit's hot reload or the first question.
    """
    for lang in languages:
        word_tokens(lang, "warm up")
        _stop_words(lang)


def content_tokens(lang: str, text: str) -> list[str]:
    """``word_tokens`` without stop words ("what", "когда", "من"): for BM25 over passages."""
    return word_tokens(lang, text, skip_stop_words=True)


def normalized_analyzer(analyzer: Callable[[str], list[str]], lang: str, text: str) -> list[str]:
    """``analyzer`` over the normalised text (module-level so it pickles)."""
    return analyzer(normalize(text, lang))
