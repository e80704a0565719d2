"""channels/tracker_store.py: Rasa's SQL tracker store, with card numbers masked before they are written."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat

import pytest

tracker_store = pytest.importorskip("channels.tracker_store")
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

from bot.rasa.tracker import TrackerStoreReader  # noqa: E402
from bot.redact import mask_payment_data  # noqa: E402

CARD = "4111 1111 1111 1111"  # Luhn-valid test number


def test_mask_payment_data_masks_only_valid_card_numbers_in_any_digit_script():
    assert mask_payment_data(f"my card is {CARD}, order LK-123456, ada@example.com") == (
        "my card is [card], order LK-123456, ada@example.com"
    )
    assert mask_payment_data("٤١١١١١١١١١١١١١١١ please") == "[card] please"  # Arabic-Indic digits
    assert mask_payment_data("call 4111 1111 1111 1112") == "call 4111 1111 1111 1112"  # fails Luhn: not a card
    assert mask_payment_data("") == ""


def test_customer_messages_are_stored_without_card_numbers(tmp_path):
    db = tmp_path / "tracker.db"
    store = tracker_store.CardMaskingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))
    typed = f"charge my card {CARD} again"
    tracker = DialogueStateTracker.from_events(
        "ada",
        [
            ActionExecuted("action_listen"),
            UserUttered(
                typed,
                intent={"name": "ask_faq", "confidence": 0.9},
                entities=[{"entity": "number", "value": CARD}],
                parse_data={"text": typed, "intent": {"name": "ask_faq"}, "entities": [{"value": CARD}]},
                input_channel="socketio",
            ),
            SlotSet("last_question", typed),
            SlotSet("customer_email", "ada@example.com"),
            BotUttered(f"Is {CARD} an order number?"),
        ],
    )
    asyncio.run(store.save(tracker))
    assert tracker.events[1].text == typed  # the bot's own, in-memory tracker is left alone
    rows = sqlite3.connect(db).execute("SELECT type_name, intent_name, data FROM events ORDER BY id").fetchall()
    stored = {(kind, json.loads(data).get("name")): (intent, json.loads(data)) for kind, intent, data in rows}
    intent, user = stored[("user", None)]
    assert intent == "ask_faq" and user["input_channel"] == "socketio"
    assert user["text"] == "charge my card [card] again"
    assert user["parse_data"]["text"] == "charge my card [card] again"
    assert CARD not in json.dumps(user)
    assert stored[("slot", "last_question")][1]["value"] == "charge my card [card] again"
    assert stored[("slot", "customer_email")][1]["value"] == "ada@example.com"  # the rest is kept
    assert stored[("bot", None)][1]["text"] == "Is [card] an order number?"
    assert CARD not in " ".join(data for _, _, data in rows)
    restored = asyncio.run(store.retrieve("ada"))
    assert [e.text for e in restored.events if isinstance(e, UserUttered)] == ["charge my card [card] again"]


def test_security_codes_are_stored_masked_too(tmp_path):
    db = tmp_path / "tracker.db"
    store = tracker_store.CardMaskingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))
    typed = "the cvv is 739 and код безопасности 4821"
    tracker = DialogueStateTracker.from_events(
        "ada",
        [
            ActionExecuted("action_listen"),
            UserUttered(typed, intent={"name": "ask_faq"}, parse_data={"text": typed}, input_channel="socketio"),
            SlotSet("last_question", typed),
        ],
    )
    asyncio.run(store.save(tracker))
    rows = sqlite3.connect(db).execute("SELECT data FROM events ORDER BY id").fetchall()
    stored = [json.loads(data) for (data,) in rows]
    assert "739" not in db.read_bytes().decode("utf-8", "replace") and "4821" not in json.dumps(stored)
    masked = "the cvv is [security code] and код безопасности [security code]"
    assert [e.get("text") or e.get("value") for e in stored if e["event"] in ("user", "slot")] == [masked, masked]


def test_the_sqlite_file_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        db = tmp_path / "var" / "rasa" / "tracker.db"
        tracker_store.CardMaskingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))
    finally:
        os.umask(old)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700 and stat.S_IMODE(db.parent.parent.stat().st_mode) == 0o700
    assert db.stat().st_size > 0  # Rasa made its tables in the file created for it


def test_the_sqlite_file_is_written_ahead_with_pooled_connections_and_readers_never_wait(tmp_path):
    db = tmp_path / "tracker.db"
    store = tracker_store.CardMaskingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))

    async def save(sender: str, text: str) -> None:
        tracker = DialogueStateTracker.from_events(sender, [ActionExecuted("action_listen"), UserUttered(text)])
        await store.save(tracker)

    asyncio.run(save("ada", "first"))
    with sqlite3.connect(db) as probe:
        assert probe.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    # A reader (the desk reads conversations from this file) holding a read transaction open does not block a
    # write, and sees the new events once it starts a new one.
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 2
    asyncio.run(save("bob", "second"))
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 2
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 4
    assert asyncio.run(store.retrieve("bob")).latest_message.text == "second"
    for path in tmp_path.glob("tracker.db*"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


@pytest.fixture(scope="module")
def postgres():
    from tests.servers import PostgresServer

    server = PostgresServer().up()
    yield server
    server.remove()


@pytest.mark.slow
def test_on_postgresql_by_one_url_cards_are_masked_and_the_desk_reads_it_back(postgres, tmp_path):
    """FAQBOT_TRACKER_URL: the endpoints faqbot run writes make Rasa build this store on a real PostgreSQL,
    card numbers masked as on SQLite, and faqbot's reader (desk transcripts, reports) reads the events."""
    from rasa.core.tracker_store import create_tracker_store
    from rasa.core.utils import read_endpoints_from_path

    from bot.rasa.channels import write_endpoints
    from bot.rasa.tracker import TrackerStoreReader
    from bot.settings import PROJECT_ROOT

    os.environ["FAQBOT_TRACKER_URL"] = postgres.url
    os.environ.setdefault("FAQBOT_ACTION_ENDPOINT", "http://127.0.0.1:1/webhook")
    try:
        endpoints = write_endpoints(PROJECT_ROOT / "endpoints.yml", tmp_path / "endpoints.yml", "", postgres.url)
        assert postgres.PASSWORD not in endpoints.read_text("utf-8")
        store = create_tracker_store(read_endpoints_from_path(endpoints).tracker_store, Domain.empty())
    finally:
        del os.environ["FAQBOT_TRACKER_URL"]
    assert isinstance(store, tracker_store.CardMaskingSQLTrackerStore)
    assert store.engine.dialect.name == "postgresql"
    tracker = DialogueStateTracker.from_events(
        "ada-pg", [ActionExecuted("action_listen"), UserUttered(f"card {CARD} please"), BotUttered("Got it")]
    )
    asyncio.run(store.save(tracker))
    stored = asyncio.run(store.retrieve("ada-pg"))
    assert stored.latest_message.text == "card [card] please"
    rows = TrackerStoreReader(postgres.url).events(sender_id="ada-pg")
    assert [row.type_name for row in rows][-2:] == ["user", "bot"]
    assert CARD.replace(" ", "") not in json.dumps([row.data for row in rows]).replace(" ", "")
    # The server restarts (as after a crash): the next message is stored, no error for it.
    postgres.down()
    postgres.up()
    tracker.update(UserUttered("still there?"))
    asyncio.run(store.save(tracker))
    assert asyncio.run(store.retrieve("ada-pg")).latest_message.text == "still there?"


@pytest.mark.slow
def test_while_postgresql_is_down_conversations_are_kept_and_written_in_order_once_it_is_back(postgres):
    """Nothing the bot answered during an outage is lost: a conversation that cannot be written is kept in
    memory, read back from there (its context goes on), and its events the database lacks are written, in
    order and once, at the next read or write after the database is back; a conversation that cannot even be
    read starts a new session, written whole later."""
    from bot.settings import PROJECT_ROOT

    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    store = tracker_store.CardMaskingSQLTrackerStore(domain, database_url=postgres.url)
    listen = ActionExecuted("action_listen")
    tracker = DialogueStateTracker.from_events(
        "kept", [listen, UserUttered("hello"), BotUttered("hi")], slots=domain.slots
    )
    asyncio.run(store.save(tracker))
    tracker = asyncio.run(store.retrieve("kept"))  # as Rasa does at each message

    postgres.down()
    try:
        tracker.update(UserUttered(f"my card {CARD}"))
        tracker.update(SlotSet("customer_email", "ada@example.com"))
        asyncio.run(store.save(tracker))  # no error: kept
        again = asyncio.run(store.retrieve("kept"))
        assert again is tracker and again.get_slot("customer_email") == "ada@example.com"  # the context goes on
        again.update(BotUttered("noted"))
        asyncio.run(store.save(again))
        assert asyncio.run(store.retrieve("never-seen")) is None  # cannot be read: Rasa starts a new one
        fresh = DialogueStateTracker.from_events(
            "never-seen", [listen, UserUttered("during the outage")], slots=domain.slots
        )
        asyncio.run(store.save(fresh))
    finally:
        postgres.up()

    asyncio.run(store.retrieve("someone-else"))  # any read after the restart writes what was kept

    def texts(sender: str) -> list[str]:
        rows = TrackerStoreReader(postgres.url).events(sender_id=sender)
        return [row.data.get("text") or row.data.get("name") or row.type_name for row in rows]

    assert [t for t in texts("kept") if t in ("hello", "hi", "my card [card]", "noted")] == [
        "hello", "hi", "my card [card]", "noted"]  # fmt: skip
    assert len(texts("kept")) == len(tracker.events)  # each event once
    assert "during the outage" in texts("never-seen")
    assert CARD not in json.dumps(texts("kept"))


@pytest.mark.slow
def test_kept_conversations_are_written_once_the_database_is_back_even_if_nobody_writes(postgres):
    """No later message is needed: while conversations are kept, writing them is retried every second."""
    from bot.settings import PROJECT_ROOT

    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    store = tracker_store.CardMaskingSQLTrackerStore(domain, database_url=postgres.url)

    async def scenario() -> list[str]:
        tracker = DialogueStateTracker.from_events(
            "quiet", [ActionExecuted("action_listen"), UserUttered("first")], slots=domain.slots
        )
        await store.save(tracker)
        postgres.down()
        try:
            tracker.update(UserUttered("said during the outage"))
            await store.save(tracker)  # kept
        finally:
            postgres.up()
        for _ in range(100):  # nothing else touches the store from here on
            await asyncio.sleep(0.1)
            rows = TrackerStoreReader(postgres.url).events(sender_id="quiet")
            if any(row.data.get("text") == "said during the outage" for row in rows):
                break
        return [row.data.get("text") for row in rows if row.type_name == "user"]

    assert asyncio.run(scenario()) == ["first", "said during the outage"]


def _conversation(sender: str, start: float, sessions: int, turns: int) -> list:
    from rasa.shared.core.events import SessionStarted

    events: list = []
    clock = start
    for session in range(sessions):
        if session or sender.endswith("-s"):  # "-s": even the first session starts with session_started
            events += [ActionExecuted("action_session_start", timestamp=clock), SessionStarted(timestamp=clock)]
        for turn in range(turns):
            clock += 1.0
            text = f"{sender} session {session} turn {turn}"
            events += [
                ActionExecuted("action_listen", timestamp=clock),
                UserUttered(text, intent={"name": "ask_faq", "confidence": 0.9}, timestamp=clock),
                BotUttered(f"answer to {text}", timestamp=clock + 0.5),
            ]
        clock += 100.0
    return events


def _side_by_side(ours, rasas, rows, sessions: int, turns: int, prefix: str) -> None:
    """Saves the same interleaved conversations through ``ours`` and Rasa's own ``rasas``, then checks the
    stored rows (``rows(store, senders)``) and every tracker read back are the same."""
    from rasa.core.tracker_store import SQLTrackerStore

    senders = [f"{prefix}ada", f"{prefix}bob-s", f"{prefix}cy"]
    full = {sender: _conversation(sender, 1000.0 * n, sessions, turns) for n, sender in enumerate(senders)}
    done = {sender: 0 for sender in senders}
    for cut in (0.4, 0.7, 1.0):  # several saves per conversation, interleaved, as Rasa makes them
        for sender in senders:
            upto = int(len(full[sender]) * cut)
            for store in (ours, rasas):
                tracker = asyncio.run(store.retrieve(sender)) or DialogueStateTracker.from_events(sender, [])
                for event in full[sender][done[sender] : upto]:
                    tracker.update(event)
                asyncio.run(store.save(tracker))
            done[sender] = upto
    assert rows(ours, senders) == rows(rasas, senders)
    assert len(rows(ours, senders)) == sum(len(events) for events in full.values())  # each event once

    def dump(tracker):
        return [event.as_dict() for event in tracker.events] if tracker is not None else None

    for sender in [*senders, f"{prefix}nobody"]:
        for all_sessions in (False, True):
            assert dump(asyncio.run(ours._retrieve(sender, all_sessions))) == dump(
                asyncio.run(SQLTrackerStore._retrieve(rasas, sender, all_sessions))
            )
    assert asyncio.run(ours.retrieve(f"{prefix}nobody")) is None
    assert len(asyncio.run(ours.retrieve_full_tracker(senders[0])).events) == len(full[senders[0]])


def _rows(store, senders: list[str]) -> list[tuple]:
    """The stored (sender, type, data) rows of ``senders``, in the order they were written."""
    import sqlalchemy as sa

    with store.engine.connect() as connection:
        result = connection.execute(
            sa.text("SELECT sender_id, type_name, data FROM events ORDER BY id"),
        ).fetchall()
    return [tuple(row) for row in result if row[0] in senders]


@pytest.mark.parametrize("sessions, turns", [(1, 3), (3, 2)])
def test_reads_and_counts_in_core_give_what_rasas_own_queries_give(tmp_path, sessions, turns):
    """The store reads a conversation and counts its stored events with SQLAlchemy Core instead of Rasa's ORM
    queries (CPU per turn): the same rows written by the same saves, and the same events of the same (latest)
    session read back in the same order, conversations interleaved in the table, with and without a
    session_started event."""
    from rasa.core.tracker_store import SQLTrackerStore

    ours = tracker_store.CardMaskingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "ours.db"))
    rasas = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "rasa.db"))
    _side_by_side(ours, rasas, _rows, sessions, turns, prefix="")


@pytest.mark.slow
def test_reads_and_counts_in_core_on_postgresql_give_what_rasas_own_queries_give(postgres, tmp_path):
    """The same on PostgreSQL (the store at scale): Core's queries there against Rasa's own on the same saves."""
    from rasa.core.tracker_store import SQLTrackerStore

    ours = tracker_store.CardMaskingSQLTrackerStore(Domain.empty(), database_url=postgres.url)
    assert ours.engine.dialect.name == "postgresql"
    rasas = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "rasa.db"))
    _side_by_side(ours, rasas, _rows, sessions=3, turns=2, prefix="core-pg-")
