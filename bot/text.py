"""Language detection and text normalisation for search (no models, no downloads)."""

from __future__ import annotations

import re
import unicodedata

_ARABIC_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_ARABIC_MAP = str.maketrans(
    {
        "\u0640": "",  # tatweel
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ة": "ه",
        "ى": "ي",
        "ؤ": "و",
        "ئ": "ي",
        # Letters dialect writing borrows from the Persian alphabet or keyboard, folded to the
        # Arabic letter they stand for: Persian kaf / ya / ha (other code points for the same
        # letters), ve and pe in loanwords (ڤيزا = فيزا), and the g of Gulf and Maghrebi
        # writing (گال, ڨال = قال).
        "ک": "ك",
        "ی": "ي",
        "ھ": "ه",
        "ڤ": "ف",
        "پ": "ب",
        "گ": "ق",
        "ڨ": "ق",
        "،": ",",
        "؟": "?",
        "٠": "0",
        "١": "1",
        "٢": "2",
        "٣": "3",
        "٤": "4",
        "٥": "5",
        "٦": "6",
        "٧": "7",
        "٨": "8",
        "٩": "9",
    }
)
#: A letter written three or more times in a row: emphasis ("كتيييير"), never a spelling.
_ELONGATION = re.compile(r"([\u0621-\u064a])\1{2,}")
_NON_WORD = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACES = re.compile(r"\s+")


def script_counts(text: str) -> dict[str, int]:
    """How many letters of each script (latin, arabic, cyrillic) the text has."""
    counts = {"latin": 0, "arabic": 0, "cyrillic": 0}
    for char in text:
        if not char.isalpha():
            continue
        code = ord(char)
        if 0x0600 <= code <= 0x06FF or 0x0750 <= code <= 0x077F or 0xFB50 <= code <= 0xFEFF:
            counts["arabic"] += 1
        elif 0x0400 <= code <= 0x052F:
            counts["cyrillic"] += 1
        elif code < 0x0250:
            counts["latin"] += 1
    return counts


SCRIPT_LANGUAGE = {"arabic": "ar", "cyrillic": "ru", "latin": "en"}


def detect_language(text: str, supported: tuple[str, ...], fallback: str, min_letters: int = 2) -> str:
    """The language of ``text`` by its dominant script, or ``fallback`` when unsure.

    Arabic script means ar, Cyrillic ru, Latin en; a text with fewer than
    ``min_letters`` letters, or whose script maps to an unsupported language,
    keeps ``fallback``.
    """
    counts = script_counts(text)
    script, letters = max(counts.items(), key=lambda item: item[1])
    if letters < min_letters:
        return fallback
    lang = SCRIPT_LANGUAGE[script]
    return lang if lang in supported else fallback


def normalize(text: str, lang: str | None = None) -> str:
    """Lowercased, punctuation-free text with language-specific spelling folded.

    Arabic: diacritics and tatweel removed, alef/hamza forms unified, ta marbuta
    as ha, alef maqsura as ya, the Persian-alphabet letters of dialect writing
    folded (گ, ڨ as ق; ڤ as ف; پ as ب), a letter repeated for emphasis once.
    Russian: ё as е. Every language: NFKC, casefold.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    if lang in (None, "ar"):
        text = _ELONGATION.sub(r"\1", _ARABIC_DIACRITICS.sub("", text).translate(_ARABIC_MAP))
    if lang in (None, "ru"):
        text = text.replace("ё", "е")
    text = _NON_WORD.sub(" ", text)
    return _SPACES.sub(" ", text).strip()
