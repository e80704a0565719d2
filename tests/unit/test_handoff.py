import sqlite3
import threading
from pathlib import Path

import pytest

from bot.errors import HandoffError
from bot.handoff.context import (
    clean_email,
    clean_name,
    customer_from_metadata,
    find_email,
    find_order_number,
)
from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.rasa.tracker import transcript_from_events
from bot.storage.database import StorageError

PATTERN = r"\b[A-Za-z]{2}-?\d{5,8}\b"


def _ticket(**changes) -> HandoffTicket:
    base = dict(
        conversation_id="c1",
        channel="rest",
        language="en",
        customer={"customer_name": "Ada", "customer_email": "ada@example.com"},
        question="Where is my sofa?",
        candidates=[{"id": "order-tracking", "score": 0.41}],
        reason="low_confidence",
        transcript=[{"role": "customer", "text": "Where is my sofa?", "timestamp": 1.0}],
        kb_version="abc",
    )
    base.update(changes)
    return HandoffTicket(**base)


def test_create_and_read_back_everything(tmp_path: Path):
    store = HandoffStore(tmp_path / "db" / "faqbot.db")
    stored = store.create(_ticket())
    assert stored.id == 1 and stored.number == "T-000001" and stored.created_at > 0
    again = store.get(1)
    assert again == stored
    assert again.to_dict()["number"] == "T-000001"
    assert store.for_conversation("c1") == [stored]
    assert store.get(99) is None


def test_list_newest_first_and_by_status(tmp_path: Path):
    store = HandoffStore(tmp_path / "faqbot.db")
    for i in range(3):
        store.create(_ticket(conversation_id=f"c{i}", question="q" * (i + 1)))
    assert [t.conversation_id for t in store.tickets()] == ["c2", "c1", "c0"]
    assert len(store.tickets(status="waiting")) == 3 and store.tickets(status="resolved") == []


def test_concurrent_writers_all_succeed(tmp_path: Path):
    store = HandoffStore(tmp_path / "faqbot.db")
    errors: list[Exception] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                HandoffStore(tmp_path / "faqbot.db").create(_ticket(conversation_id=f"t{n}-{i}"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({t.id for t in store.tickets(limit=100)}) == 40


def test_locked_database_raises_a_clear_error(tmp_path: Path):
    path = tmp_path / "faqbot.db"
    store = HandoffStore(path, timeout=0.2)
    store.create(_ticket())
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="busy or broken"):
            store.create(_ticket())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(store.tickets()) == 1


def test_unknown_reason_is_rejected(tmp_path: Path):
    with pytest.raises(HandoffError):
        HandoffStore(tmp_path / "faqbot.db").create(_ticket(reason="whim"))


def test_email_name_and_order_number_cleaning():
    assert clean_email(" Ada@Example.COM ") == "Ada@example.com"
    assert clean_email("my mail is ada@example.com thanks") == "ada@example.com"
    assert clean_email("ada@example") is None and clean_email("") is None
    assert clean_name("  Ada   Lovelace ") == "Ada Lovelace"
    assert clean_name("Нина") == "Нина" and clean_name("فاطمة") == "فاطمة"
    for bad in ("", "12345", "ada@example.com", "/affirm", "x" * 81):
        assert clean_name(bad) is None
    assert find_order_number(["my order lk-123456 is late", "no number"], PATTERN) == "LK-123456"
    assert find_order_number(["LK123456 then LK-654321"], PATTERN) == "LK-654321"
    assert find_order_number(["call 123456"], PATTERN) is None
    assert find_email(["hi", "write to a@b.co", "or c@d.org"]) == "c@d.org"


def test_customer_from_metadata():
    metadata = {"customer": {"name": "Ada", "email": "ada@example.com", "id": 42}, "page_url": "https://x/y"}
    assert customer_from_metadata(metadata) == {
        "customer_name": "Ada",
        "customer_email": "ada@example.com",
        "customer_id": "42",
        "page_url": "https://x/y",
    }
    assert customer_from_metadata({"customer_email": "not-an-email", "customer_name": "123"}) == {}
    assert customer_from_metadata(None) == {} and customer_from_metadata("junk") == {}


def test_transcript_from_events():
    events = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "hi", "timestamp": 1, "parse_data": {"intent": {"name": "greet"}}},
        {
            "event": "bot",
            "text": "Hello",
            "timestamp": 2,
            "data": {"buttons": [{"title": "Yes", "payload": "/affirm"}]},
        },
        {"event": "slot", "name": "x", "value": 1},
        {"event": "bot", "text": None, "timestamp": 3, "data": {}},
    ]
    assert transcript_from_events(events) == [
        {"role": "customer", "text": "hi", "timestamp": 1, "intent": "greet"},
        {"role": "bot", "text": "Hello", "timestamp": 2, "buttons": ["Yes"]},
    ]


@pytest.mark.parametrize(
    "name",
    ["Ada Lovelace", "O'Brien", "Mary-Ann O’Neil", "J. R. R. Tolkien", "José", "Нина Петрова", "فاطمة",
     "عَبْدُ الله", "李小龙", "देवनागरी", "Zoë d’Arc"],
)  # fmt: skip
def test_names_in_any_script_with_apostrophes_hyphens_and_dots_are_kept(name: str):
    assert clean_name(name) == name


@pytest.mark.parametrize(
    "markup",
    [
        "[click me](javascript:alert(1))",
        "[Ada](https://evil.example)",
        "<b>Ada</b>",
        "<img src=x onerror=alert(1)>",
        "Ada https://evil.example",
        "evil.example",
        "www.shop.ru",
        "**Ada**",
        "Ada_Lovelace",
        "`Ada`",
        "Ada (admin)",
        "Ada {x}",
        "Ada | Bob",
        "# Ada",
        "- Ada",
        "Ada\\",
        "Ada 2",
        "!Ada",
    ],
)
def test_names_with_markup_links_urls_or_brackets_are_refused(markup: str):
    assert clean_name(markup) is None
    assert customer_from_metadata({"customer": {"name": markup}}) == {}
