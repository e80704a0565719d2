"""The post-conversation survey's store: a bad answer is refused as such, not as a broken ticket store."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import FaqbotError, HandoffError
from bot.storage import surveys


@pytest.mark.parametrize(("kind", "score"), [("csat", 0), ("csat", 6), ("ces", 9), ("nps", 3)])
def test_a_score_outside_1_to_5_or_an_unknown_kind_is_a_bad_answer_not_a_handoff_error(
    tmp_path: Path, kind: str, score: int
):
    path = tmp_path / "faqbot.db"
    with pytest.raises(FaqbotError, match="1 to 5") as refused:
        surveys.record(path, "conv-1", "socketio", "en", kind, score)
    assert not isinstance(refused.value, HandoffError)  # the web app shows those as "the ticket store is unavailable"
    assert type(refused.value).__name__ == "InvalidSurveyAnswer"
    assert surveys.read_surveys(path) == []


def test_a_good_answer_is_stored(tmp_path: Path):
    path = tmp_path / "faqbot.db"
    surveys.record(path, "conv-1", "socketio", "en", "ces", 4)
    assert [(a["kind"], a["score"]) for a in surveys.read_surveys(path)] == [("ces", 4)]
