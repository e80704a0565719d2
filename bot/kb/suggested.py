"""knowledge_base/widget.yml: what the website widget suggests on an empty panel (the editors' pick).

The file is optional (without it, the widget suggests the most asked FAQs of
the customer's language). Its format:

    # The questions the chat widget suggests when it opens on an empty conversation.
    suggested:
      - order-tracking
      - returns-how

``suggested`` is a list of FAQ ids in the order shown, the same in every
language (translations share ids); each is shown with its question in the
customer's language. An empty list or no key means "the most asked ones".
``load_suggested`` checks the file's shape; ``check_suggested`` checks the ids
against the loaded FAQs (bot/kb/loader.py runs both, so ``faqbot kb validate``
reports them as ``suggested`` problems with the file and line).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from bot.kb.models import FaqEntry, KbProblem

#: The file, in the knowledge base's folder.
FILE_NAME = "widget.yml"
#: The check name of every problem found here (``faqbot kb validate --json`` counts per check).
CHECK = "suggested"
#: Keys the file may have.
KNOWN_KEYS = frozenset({"suggested"})
#: Larger files are refused (it is a short list).
MAX_FILE_BYTES = 64_000
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def load_suggested(root: Path, shown: str) -> tuple[tuple[str, ...], list[KbProblem]]:
    """The editors' suggested FAQ ids from ``root``/widget.yml (``shown``: its path in messages), and the
    problems of its shape. No file: no ids, no problem. A file with an error gives no ids."""
    path = root / FILE_NAME
    if not path.is_file():
        return (), []
    try:
        raw = path.read_bytes()
        if len(raw) > MAX_FILE_BYTES:
            return (), [KbProblem(shown, 0, f"file is larger than {MAX_FILE_BYTES} bytes", check=CHECK)]
        text = raw.decode("utf-8")
        data = yaml.safe_load(text)
    except OSError as exc:
        return (), [KbProblem(shown, 0, f"cannot read file: {exc.strerror or exc}", check=CHECK)]
    except UnicodeDecodeError:
        return (), [KbProblem(shown, 0, "file is not valid UTF-8 text", check=CHECK)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        return (), [KbProblem(shown, line, f"invalid YAML: {getattr(exc, 'problem', None) or exc}", check=CHECK)]
    if data is None:
        return (), []
    lines = text.splitlines()
    if not isinstance(data, dict):
        return (), [KbProblem(shown, 1, "widget.yml must be a YAML mapping with the key 'suggested'", check=CHECK)]
    problems = [
        KbProblem(shown, _line_of(lines, f"{key}:"), f"unknown field {key!r} is ignored", "warning", CHECK)
        for key in sorted(set(map(str, data)) - KNOWN_KEYS)
    ]
    ids = data.get("suggested")
    key_line = _line_of(lines, "suggested:")
    if ids is None:
        return (), problems
    if not isinstance(ids, list):
        return (), [*problems, KbProblem(shown, key_line, "'suggested' must be a list of FAQ ids", check=CHECK)]
    bad = [i for i in ids if not isinstance(i, str) or not _ID.match(i)]
    if bad:
        message = f"'suggested' must list FAQ ids (lowercase slugs such as order-tracking), not {bad[0]!r}"
        return (), [*problems, KbProblem(shown, _line_of(lines, str(bad[0]), key_line), message, check=CHECK)]
    seen: list[str] = []
    for faq_id in ids:
        if faq_id in seen:
            line = _line_of(lines, faq_id, key_line)
            problems.append(KbProblem(shown, line, f"{faq_id!r} is suggested twice", "warning", CHECK))
        else:
            seen.append(faq_id)
    return tuple(seen), problems


def check_suggested(
    ids: Iterable[str], entries: Iterable[FaqEntry], languages: Iterable[str], root: Path, shown: str
) -> list[KbProblem]:
    """Problems of the suggested ids against the FAQs: an id no language has is an error; one missing in a
    language, or one the widget may not show (``channels`` without ``web``, or an ``audience``), a warning."""
    ids = tuple(ids)
    if not ids:
        return []
    lines = _read_lines(root / FILE_NAME)
    by_id: dict[str, dict[str, FaqEntry]] = {}
    for entry in entries:
        by_id.setdefault(entry.id, {})[entry.lang] = entry
    problems: list[KbProblem] = []
    for faq_id in ids:
        line = _line_of(lines, faq_id)
        versions = by_id.get(faq_id)
        if not versions:
            problems.append(KbProblem(shown, line, f"suggested FAQ {faq_id!r} does not exist", check=CHECK))
            continue
        missing = [lang for lang in languages if lang not in versions]
        if missing:
            message = f"suggested FAQ {faq_id!r} is not in {', '.join(missing)}: not suggested there"
            problems.append(KbProblem(shown, line, message, "warning", CHECK))
        if any(not widget_may_suggest(entry) for entry in versions.values()):
            message = f"suggested FAQ {faq_id!r} is restricted (channels without web, or an audience): never suggested"
            problems.append(KbProblem(shown, line, message, "warning", CHECK))
    return problems


def widget_may_suggest(entry: FaqEntry) -> bool:
    """Whether the widget may offer ``entry`` to anyone: given on the web, to every audience."""
    return entry.allows_channel("web") and not entry.audience


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _line_of(lines: list[str], needle: str, default: int = 1) -> int:
    """The first line (1-based) that holds ``needle`` outside a comment, else ``default``."""
    for number, line in enumerate(lines, start=1):
        if needle in line.split("#", 1)[0]:
            return number
    return default
