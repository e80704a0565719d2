"""The most asked FAQs per language: what the website widget suggests when the editors picked none.

Counted as the dashboard counts answers (``outcomes.answer_faq``): a customer's
typed question answered with a FAQ, or the FAQ they picked from "did you
mean". Clicks on the widget's suggestions send a FAQ's button payload, which
is not a typed question, so a suggestion never counts for itself.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from bot.analytics.conversations import TrackerReader
from bot.analytics.outcomes import answer_faq


def most_asked(reader: TrackerReader, since: float | None = None) -> dict[str, list[str]]:
    """Per language, the FAQ ids answered for questions asked from ``since`` on, most often first (ties: by
    id, so the order is stable). Raises ``TrackerStoreError`` when the store cannot be read."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for question in reader.iter_questions(since=since):
        faq_id = answer_faq(question)
        if faq_id:
            counts[question.lang][faq_id] += 1
    return {
        lang: [faq for faq, _ in sorted(c.items(), key=lambda item: (-item[1], item[0]))] for lang, c in counts.items()
    }
