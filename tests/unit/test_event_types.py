"""channels/event_types.py: Rasa's event classes found by name from a table, with Rasa's answers."""

from __future__ import annotations

import pytest

event_types = pytest.importorskip("channels.event_types")
import rasa.shared.utils.common  # noqa: E402
from rasa.shared.core.events import Event, SlotSet, UserUttered  # noqa: E402


@pytest.fixture
def installed(monkeypatch):
    monkeypatch.setattr(event_types, "_classes", {})
    monkeypatch.setattr(Event, "resolve_by_type", staticmethod(event_types.resolve_by_type))


def test_every_event_name_resolves_to_rasas_class(installed):
    names = {cls.type_name for cls in rasa.shared.utils.common.all_subclasses(Event)}
    assert {"user", "bot", "slot", "action", "session_started"} <= names
    for name in names:
        assert Event.resolve_by_type(name) is event_types._rasa_resolve_by_type(name)
    assert Event.from_parameters({"event": "slot", "name": "x", "value": 1}) == SlotSet("x", 1)
    assert Event.from_parameters({"event": "bot", "text": "hi"}).text == "hi"


def test_unknown_names_get_rasas_answers(installed):
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no-such-event", default=SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name 'no-such-event'"):
        Event.resolve_by_type("no-such-event")


def test_the_subclasses_are_walked_once_and_again_only_for_a_new_name(installed, monkeypatch):
    walks = []
    walk = rasa.shared.utils.common.all_subclasses
    monkeypatch.setattr(rasa.shared.utils.common, "all_subclasses", lambda cls: walks.append(cls) or walk(cls))
    for _ in range(50):
        Event.resolve_by_type("user")
        Event.resolve_by_type("bot")
    assert walks.count(Event) == 1

    class LateEvent(SlotSet):  # defined after the table was filled: still found
        type_name = "faqbot_late_event"

    assert Event.resolve_by_type("faqbot_late_event") is LateEvent
    assert walks.count(Event) == 2


def test_install_replaces_rasas_resolver(monkeypatch):
    monkeypatch.setattr(Event, "resolve_by_type", Event.__dict__["resolve_by_type"])
    event_types.install()
    event_types.install()
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.__dict__["resolve_by_type"].__func__ is event_types.resolve_by_type
