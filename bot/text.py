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


#: Words of spoken Arabic (Levantine, Gulf, Egyptian, Maghrebi) that customers write for what Modern
#: Standard Arabic says otherwise, folded to the standard word, in normalised spelling. Only words with no
#: other common meaning in a customer's question: question words, "I want", negation, and a few
#: loanwords of commerce (card, order, password, phone). Dialect writing puts these where a KB written in
#: MSA has its own words, so no n-gram or stem of the two ever meets. General language, not fitted on any
#: data: the benchmark's dev set was only checked for harm (docs/benchmarks.md, "Dialects").
_SPOKEN_WORDS = {
    **dict.fromkeys(("كيفاش", "كيفاه", "كيفش", "ازاي", "ازاى"), "كيف"),
    **dict.fromkeys(("علاش", "لاش", "ليش", "ليه", "ليشن"), "لماذا"),
    **dict.fromkeys(("وين", "فين"), "اين"),  # not فينا: "in us" in MSA
    **dict.fromkeys(("شنو", "شنوه", "شنيه", "شنهو", "شنهي", "وش", "ايش", "شو"), "ماذا"),
    **dict.fromkeys(("امتى", "ايمتى", "امتي", "وقتاش", "فوقاش", "امتين", "ايمته"), "متى"),  # not متين: "solid" in MSA
    **dict.fromkeys(("قداش", "شحال", "قديش", "اديش", "كام"), "كم"),
    "واش": "هل",
    **dict.fromkeys(
        ("بغيت", "نبغي", "نبغى", "ابغى", "ابغي", "ابى", "ابي", "بدي", "عايز", "عاوز", "عايزه", "عاوزه", "نحب"),
        "اريد",
    ),
    **dict.fromkeys(("مش", "مو", "موش", "مب", "ميش"), "لا"),
    **dict.fromkeys(("دابا", "توا", "هلق", "دلوقتي", "هلء"), "الان"),
    **dict.fromkeys(("بزاف", "برشا", "برشه", "واجد", "كتير"), "كثير"),
    **dict.fromkeys(("فلوس", "مصاري", "مصارى", "مصريات"), "اموال"),
    **dict.fromkeys(("كارطه", "كارت", "كرت", "لاكارط", "كارته"), "بطاقه"),
    **dict.fromkeys(("كوموند", "كومند", "كوماند", "كوموندا", "اوردر"), "طلب"),
    **dict.fromkeys(("موبايل", "بورطابل", "تليفون", "تلفون", "تيليفون"), "هاتف"),
    **dict.fromkeys(("صيفط", "نصيفط", "صيفطت", "صيفطو"), "ارسل"),
    **dict.fromkeys(("باسورد", "باسوورد", "پاسورد"), "كلمه المرور"),
    # The French words of Maghrebi banking and shopping (compte, virement, solde, facture, guichet, code)
    **dict.fromkeys(("كونط", "كومبت"), "حساب"),
    **dict.fromkeys(("فيرمون", "فيرمو", "فيرموا", "فيرما"), "تحويل"),
    **dict.fromkeys(("صولد", "سولد"), "رصيد"),
    **dict.fromkeys(("فاكتوره", "فاكتورا"), "فاتوره"),
    **dict.fromkeys(("قيشي", "كيشي"), "صراف"),
    "كود": "رمز",
    # "I need", "do", "this", "also", "like this"
    **dict.fromkeys(("خصني", "خاصني", "يلزمني"), "احتاج"),
    **dict.fromkeys(("اسوي", "ندير"), "افعل"),
    "نسوي": "نفعل",
    "يسوي": "يفعل",
    "تسوي": "تفعل",
    **dict.fromkeys(("هاد", "هادا", "هدا"), "هذا"),
    **dict.fromkeys(("هادي", "هادى"), "هذه"),
    "كمان": "ايضا",
    "هيك": "هكذا",
}


def _letters(text: str) -> str:
    """Arabic ``text`` with normalize's letter folding (diacritics, tatweel, alef / hamza / ta marbuta / alef
    maqsura forms, Persian-alphabet letters, emphasis) and nothing else."""
    return _ELONGATION.sub(r"\1", _ARABIC_DIACRITICS.sub("", text).translate(_ARABIC_MAP))


def _spelled(table: dict[str, str]) -> dict[str, str]:
    """``table`` with its words spelled as normalize spells them: the fold runs on normalised text, and what it
    writes must be what the MSA word becomes (normalize("متى") is "متي"), or the two never meet."""
    result: dict[str, str] = {}
    for word, standard in table.items():
        key = _letters(word)
        if result.setdefault(key, _letters(standard)) != _letters(standard):  # pragma: no cover - a typo above
            raise ValueError(f"{word!r} folds two ways")
    return result


_DIALECT_WORDS = _spelled(_SPOKEN_WORDS)
#: Prefixes a word may carry in front of a dialect word above (longest first): and, with, so, to, the.
_PROCLITICS = ("وال", "بال", "فال", "لل", "ال", "و", "ب", "ف", "ل")
#: The short dialect words a one-letter prefix is read on (and only these): on another short word it
#: would more often be a word of its own ("فكرت", I thought, is not "ف" + "كرت", card; "بوش" is a name).
_SHORT_AFTER_PREFIX = frozenset(_letters(word) for word in ("بدي", "مش", "وين", "فين", "شو", "ليش"))
#: The possessive of spoken Arabic written after its noun ("الكارطة ديالي", "الطلب تبعي": my card, my
#: order), with the MSA suffix it stands for ("بطاقتي", "طلبي").
_POSSESSIVES = _spelled(
    {
        **dict.fromkeys(("ديالي", "متاعي", "تاعي", "بتاعي", "بتاعتي", "تبعي", "تبعتي", "حقتي"), "ي"),
        **dict.fromkeys(("ديالك", "متاعك", "تاعك", "بتاعك", "بتاعتك", "تبعك", "حقتك"), "ك"),
        **dict.fromkeys(("ديالنا", "متاعنا", "تاعنا", "بتاعنا", "تبعنا"), "نا"),
    }
)

#: The article of a noun, after an optional and / with / so / to.
_DEFINITE = re.compile(r"^([وبفل]?)ال(..+)$")


def _dialect_word(word: str) -> str:
    standard = _DIALECT_WORDS.get(word)
    if standard is not None:
        return standard
    for prefix in _PROCLITICS:
        rest = word[len(prefix) :]
        if not word.startswith(prefix) or (len(prefix) == 1 and len(rest) < 4 and rest not in _SHORT_AFTER_PREFIX):
            continue
        standard = _DIALECT_WORDS.get(rest)
        if standard is not None and " " not in standard:
            return prefix + standard
    return word


def fold_dialect(text: str) -> str:
    """Normalised Arabic ``text`` with the spoken words above written as MSA writes them, and a possessive
    written after its noun joined to it as MSA's suffix ("الكارطه ديالي" -> "بطاقتي")."""
    words: list[str] = []
    for word in text.split(" "):
        suffix = _POSSESSIVES.get(word)
        if suffix is not None and words and len(words[-1]) > 1:
            owned = _DEFINITE.sub(r"\1\2", words[-1])  # "والفلوس" -> "وفلوس": a suffix takes no article
            words[-1] = (owned[:-1] + "ت" if owned.endswith("ه") else owned) + suffix
        else:
            words.append(_dialect_word(word))
    return " ".join(words)


def normalize(text: str, lang: str | None = None) -> str:
    """Lowercased, punctuation-free text with language-specific spelling folded.

    Arabic: diacritics and tatweel removed, alef/hamza forms unified, ta marbuta
    as ha, alef maqsura as ya, the Persian-alphabet letters of dialect writing
    folded (گ, ڨ as ق; ڤ as ف; پ as ب), a letter repeated for emphasis once, and
    the words of spoken Arabic that MSA writes otherwise as MSA writes them (``fold_dialect``; only when
    ``lang`` is "ar"). Russian: ё as е. Every language: NFKC, casefold.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    if lang in (None, "ar"):
        text = _letters(text)
    if lang in (None, "ru"):
        text = text.replace("ё", "е")
    text = _SPACES.sub(" ", _NON_WORD.sub(" ", text)).strip()
    return fold_dialect(text) if lang == "ar" else text
