"""No card number and no card security code is ever stored: one test per entry point, reading the raw files back.

Each entry point gets a Luhn-valid card number and a CVV; afterwards the
database file and its write-ahead log (and, for the FAQ drafts, the files
written) must hold neither, in any form, while the masks are there. The
webhook outbox is on, so the packets queued in the same transactions are
checked too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.redact import CARD, SECURITY_CODE, mask_payment_data
from bot.settings import Settings
from bot.storage.accounts import UserStore
from bot.web import create_app

PASSWORD = "correct horse battery"
CARD_NUMBER = "5500 0055 5555 5559"  # Mastercard's test number: Luhn-valid
CVV_TEXT = "CVC: 7391"
SECRET = f"my card is {CARD_NUMBER}, {CVV_TEXT}"


def raw_bytes(*paths: Path) -> bytes:
    """Everything on disk: the database, its write-ahead log and any other file given."""
    found = b""
    for path in paths:
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                found += file.read_bytes()
    return found


def assert_nothing_stored(raw: bytes) -> None:
    text = raw.decode("utf-8", "replace")
    digits = re.sub(r"\D", "", CARD_NUMBER)
    for form in (CARD_NUMBER, digits, CARD_NUMBER.replace(" ", "-"), CVV_TEXT, '7391"', "7391 "):
        assert form not in text, f"{form!r} was stored"
    assert CARD in text and SECURITY_CODE in text, "the masks should be where the data was"


@pytest.fixture
def env(settings: Settings):
    settings = settings.replace(
        rasa_port=1, action_port=1, secret_key="test-secret", webhook_url="http://127.0.0.1:1/hook",
        webhook_secret="s", widget_origins=("https://shop.example",),
    )  # fmt: skip
    UserStore(settings.database_path).add("ann", PASSWORD, role="agent", display_name="Ann")
    app = create_app(settings=settings, test_config={"TESTING": True})
    return settings, app


def _store(settings: Settings) -> HandoffStore:
    return HandoffStore(settings.database_path, webhook=True)


def _ticket(settings: Settings, **changes: object) -> HandoffTicket:
    data: dict = dict(
        conversation_id="conv-1", channel="socketio", language="en",
        customer={"customer_name": "Ada", "customer_email": "ada@example.com"}, question="where is my order?",
        candidates=[], reason="customer_request",
        transcript=[{"role": "customer", "text": "where is my order?", "timestamp": 1.0}],
    )  # fmt: skip
    data.update(changes)
    return _store(settings).create(HandoffTicket(**data))


def _agent(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token})
    desk = client.get("/desk/").get_data(as_text=True)
    client.environ_base["HTTP_X_CSRF_TOKEN"] = re.search(r'name="csrf-token" content="([^"]+)"', desk).group(1)
    return client


def left_message(settings: Settings, app) -> None:
    response = app.test_client().post(
        "/widget/api/messages",
        json={
            "email": "ada@example.com",
            "message": SECRET,
            "name": "Ada",
            "customer_id": f"id {CVV_TEXT}",
            "page_url": f"https://shop.example/pay?card={CARD_NUMBER}",
            "transcript": [{"from": "user", "text": SECRET}, {"from": "bot", "text": f"Is {CARD_NUMBER} yours?"}],
        },  # fmt: skip
        headers={"Origin": "https://shop.example"},
    )
    assert response.status_code == 201, response.get_json()


def ticket_from_the_bot(settings: Settings, app) -> None:
    _ticket(
        settings,
        question=SECRET,
        customer={"customer_name": "Ada", "customer_email": "ada@example.com", "order_number": CARD_NUMBER,
                  "customer_id": CVV_TEXT},
        transcript=[{"role": "customer", "text": SECRET, "timestamp": 1.0},
                    {"role": "bot", "text": "Pick one", "buttons": [CARD_NUMBER, CVV_TEXT], "timestamp": 2.0}],
    )  # fmt: skip


def customer_message_copied(settings: Settings, app) -> None:
    ticket = _ticket(settings)
    assert _store(settings).add_customer_message(int(ticket.id or 0), SECRET, 3.0) is not None


def agent_reply(settings: Settings, app) -> None:
    ticket = _ticket(settings)
    ann = _agent(app)
    assert ann.post(f"/desk/tickets/{ticket.id}/claim").status_code == 200
    reply = ann.post(f"/desk/tickets/{ticket.id}/reply", json={"text": f"You wrote {SECRET}: never share it"})
    assert reply.status_code == 201 and CARD_NUMBER not in reply.get_json()["text"]


def agent_note(settings: Settings, app) -> None:
    ticket = _ticket(settings)
    assert _agent(app).post(f"/desk/tickets/{ticket.id}/note", json={"text": f"pasted: {SECRET}"}).status_code == 201


def rating_comment(settings: Settings, app) -> None:
    ticket = _ticket(settings)
    _store(settings).rate(int(ticket.id or 0), 2, f"you asked me for {SECRET}!")


ENTRY_POINTS: dict[str, Callable[[Settings, object], None]] = {
    "left message (widget)": left_message,
    "ticket from the bot (question, customer, transcript, buttons)": ticket_from_the_bot,
    "customer message copied to a ticket": customer_message_copied,
    "agent reply (desk)": agent_reply,
    "internal note (desk)": agent_note,
    "rating comment": rating_comment,
}


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=list(ENTRY_POINTS))
def test_no_card_number_or_security_code_reaches_the_database(env, entry: str):
    settings, app = env
    ENTRY_POINTS[entry](settings, app)
    assert_nothing_stored(raw_bytes(settings.database_path))


def test_faq_drafts_and_alternates_from_a_ticket_are_written_without_them(env):
    settings, app = env
    ticket = _ticket(settings, question=SECRET)
    ann = _agent(app)
    ann.post(f"/desk/tickets/{ticket.id}/claim")
    ann.post(f"/desk/tickets/{ticket.id}/resolve")
    draft = ann.post(f"/desk/tickets/{ticket.id}/draft-faq", json={"answer": f"Never send {SECRET} to anyone."})
    assert draft.status_code == 201, draft.get_json()
    alternate = ann.post(
        f"/desk/tickets/{ticket.id}/add-alternate", json={"faq_id": "payments-methods", "question": SECRET}
    )
    assert alternate.status_code == 201, alternate.get_json()
    root = settings.kb_dir.parent
    written = [root / draft.get_json()["path"], root / alternate.get_json()["path"]]
    assert_nothing_stored(raw_bytes(*written))


def test_the_ticket_a_caller_gets_back_is_the_stored_one(settings: Settings):
    ticket = _ticket(settings, question=SECRET)
    assert ticket.question == mask_payment_data(SECRET) == "my card is [card], CVC: [security code]"
