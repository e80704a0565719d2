"""Agents' replies by email, against a real SMTP server (aiosmtpd) on 127.0.0.1 and a real SQLite file.

Delivered once and in order with the right headers and body; the server down
then up; two senders racing; permanent and temporary rejections; wrong
credentials; STARTTLS and TLS; the templates; which tickets may be answered
how; the relay with tickets that have no chat; the settings.
"""

from __future__ import annotations

import datetime
import ipaddress
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.handoff import delivery, replies
from bot.handoff.mail import CHANNEL, MailComposer, SmtpTransport, parse
from bot.handoff.models import HandoffTicket
from bot.handoff.outbox import OutboxSender
from bot.handoff.store import HandoffStore
from bot.rasa.client import RasaClient
from bot.rasa.relay import Relay
from bot.settings import from_env
from bot.storage.accounts import UserStore
from tests.servers import SmtpSink, free_port

SENDER = "Larkspur help <help@larkspur.example>"
REPLY_TO = "support@larkspur.example"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    yield server
    server.down()


def composer() -> MailComposer:
    return MailComposer(SENDER, REPLY_TO, "en")


def make_store(db: Path, mail: bool = True) -> HandoffStore:
    users = UserStore(db)
    if users.get("ann") is None:
        users.add("ann", "a long enough password", display_name="Ann Example")
    return HandoffStore(db, mail=composer() if mail else None, agents=users.display_name)


def ticket(
    store: HandoffStore,
    email: str = "ada@example.com",
    language: str = "en",
    reason: str = "offline_message",
    name: str = "Ada Lovelace",
    claim: bool = True,
) -> HandoffTicket:
    customer = {"customer_email": email} if email else {}
    if name:
        customer["customer_name"] = name
    question = {"en": "My parcel never came.\nOrder LK-555555.", "ar": "لم يصل طردي", "ru": "Где мой заказ?"}
    created = store.create(
        HandoffTicket(
            f"conv-{time.time_ns()}", "socketio", language, customer, question.get(language, "?"), [], reason, []
        )
    )
    return store.transition(int(created.id or 0), "claim", "ann") if claim else created


def sender(db: Path, sink: SmtpSink, **changes: Any) -> OutboxSender:
    transport = SmtpTransport(
        "127.0.0.1",
        sink.port,
        SENDER,
        security=changes.pop("security", "none"),
        username=changes.pop("username", ""),
        password=changes.pop("password", ""),
        timeout=changes.pop("timeout", 3.0),
        ssl_context=changes.pop("ssl_context", None),
    )
    return OutboxSender(db, transport, **changes)


def outbox_rows(store: HandoffStore) -> list[dict[str, Any]]:
    return [dict(r) for r in store.db.query("SELECT * FROM outbox WHERE channel = 'email' ORDER BY id")]


def plain(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def run_together(workers: list[Callable[[], None]], timeout: float) -> list[BaseException]:
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors


# -- delivery ----------------------------------------------------------------------


def test_replies_are_emailed_once_in_order_with_threading_headers(tmp_path: Path, sink: SmtpSink):
    db = tmp_path / "faqbot.db"
    store = make_store(db)
    left = ticket(store, language="ru", name="Ада")
    texts = ["Здравствуйте! Посылка у курьера.", "Трек-номер: <b>RU123</b>\nВторая строка.", "Что-нибудь ещё?"]
    sent = [store.add_agent_message(int(left.id or 0), "ann", text) for text in texts]
    assert [m.via for m in sent] == ["email"] * 3
    assert store.pending_commands() == 0  # nothing for Rasa: the customer has no chat behind this ticket
    states = delivery.delivery_states(store, left, store.messages(int(left.id or 0)))
    assert [s["state"] for s in states.values()] == ["queued"] * 3

    report = sender(db, sink).deliver_due()
    assert (report.delivered, report.failed, report.dead, report.pending) == (3, 0, 0, 0)
    assert sender(db, sink).deliver_due().delivered == 0  # nothing twice
    got = sink.received()
    assert len(got) == 3
    thread = composer().thread_id(left)
    ids = set()
    for message, text, row in zip(got, texts, outbox_rows(store), strict=True):
        assert message["Subject"] == f"[{left.number}] Ваш вопрос в поддержку Larkspur"
        assert parseaddr(str(message["From"])) == ("Larkspur help", "help@larkspur.example")
        assert parseaddr(str(message["To"])) == ("Ада", "ada@example.com")
        assert str(message["Reply-To"]) == REPLY_TO
        assert message["In-Reply-To"] == thread and message["References"] == thread
        assert message["Message-ID"] == f"<{left.number}.{row['delivery_id']}@larkspur.example>"
        ids.add(message["Message-ID"])
        assert message["Content-Language"] == "ru" and message["Date"]
        body = plain(message)
        assert body.startswith("Здравствуйте, Ада!") and text in body and "Ann Example" in body
        assert f"Ваше обращение {left.number}:\n> Где мой заказ?" in body
        assert "Ann Example" in html(message) and "<b>" not in html(message)  # the agent's text is escaped
    assert len(ids) == 3 and thread not in ids
    assert "&lt;b&gt;RU123&lt;/b&gt;" in html(got[1])
    envelope = sink.messages[0]
    assert envelope["mail_from"] == "help@larkspur.example" and envelope["rcpt_tos"] == ["ada@example.com"]
    states = delivery.delivery_states(store, left, store.messages(int(left.id or 0)))
    assert [(s["state"], s["via"], s["to"]) for s in states.values()] == [("sent", "email", "ada@example.com")] * 3
    assert all(s["at"] for s in states.values())


@pytest.mark.parametrize(
    ("language", "subject", "greeting", "signature"),
    [
        ("en", "Your question to Larkspur help", "Hello Ada Lovelace,", "Larkspur help team"),
        ("ar", "سؤالك إلى فريق مساعدة Larkspur", "مرحباً Ada Lovelace،", "فريق مساعدة Larkspur"),
        ("ru", "Ваш вопрос в поддержку Larkspur", "Здравствуйте, Ada Lovelace!", "Команда поддержки Larkspur"),
        ("de", "Your question to Larkspur help", "Hello Ada Lovelace,", "Larkspur help team"),  # no file: default
    ],
)
def test_each_language_has_its_template(tmp_path: Path, language: str, subject: str, greeting: str, signature: str):
    store = make_store(tmp_path / "faqbot.db")
    left = ticket(store, language=language)
    message = composer().compose(left, "ada@example.com", "Ann", "The answer.", "d" * 32, time.time())
    assert message["Subject"] == f"[{left.number}] {subject}"
    assert plain(message).startswith(greeting) and signature in plain(message) and "The answer." in plain(message)
    direction = 'dir="rtl"' if language == "ar" else 'dir="ltr"'
    assert direction in html(message)


def test_without_a_name_the_greeting_has_none(tmp_path: Path):
    store = make_store(tmp_path / "faqbot.db")
    left = ticket(store, name="")
    message = composer().compose(left, "ada@example.com", "Ann", "Hi.", "d" * 32, time.time())
    assert plain(message).startswith("Hello,\n") and parseaddr(str(message["To"])) == ("", "ada@example.com")


def test_the_templates_hold_the_wording_and_every_language_has_one():
    from bot.handoff.mail import TEMPLATES_DIR

    assert set(composer().languages) >= set(from_env({}).languages)
    source = (Path(__file__).parents[2] / "bot" / "handoff" / "mail.py").read_text(encoding="utf-8")
    for words in ("Hello", "Larkspur help team", "Здравствуйте", "مرحباً"):
        assert words not in source
    broken = TEMPLATES_DIR.parent / "never"
    with pytest.raises(ConfigError, match="default language"):
        MailComposer(SENDER, templates_dir=broken)


def test_a_broken_template_is_refused_at_start(tmp_path: Path):
    (tmp_path / "en.yml").write_text("subject: '{{ ticket_number'\ntext: hi\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="en.yml"):
        MailComposer(SENDER, templates_dir=tmp_path)
    (tmp_path / "en.yml").write_text("subject: s\ntexts: typo\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="needs 'subject' and 'text'"):
        MailComposer(SENDER, templates_dir=tmp_path)


def test_smtp_down_then_up_nothing_lost_nothing_twice(tmp_path: Path, sink: SmtpSink):
    db = tmp_path / "faqbot.db"
    store = make_store(db)
    one, two = ticket(store, "ada@example.com"), ticket(store, "bo@example.com")
    store.add_agent_message(int(one.id or 0), "ann", "first")
    store.add_agent_message(int(two.id or 0), "ann", "for bo")
    store.add_agent_message(int(one.id or 0), "ann", "second")
    outbox = sender(db, sink)
    t0 = time.time()

    sink.down()
    report = outbox.deliver_due(now=t0)
    assert (report.delivered, report.failed, report.pending) == (0, 1, 3)  # the server is down: the round stops
    first, *later = outbox_rows(store)
    assert first["attempts"] == 1 and "cannot reach 127.0.0.1" in first["last_error"]
    assert [r["attempts"] for r in later] == [0, 0]
    assert t0 + 1.6 <= first["next_attempt_at"] <= t0 + 2.4
    state = delivery.delivery_states(store, one, store.messages(int(one.id or 0)))
    assert [s["state"] for s in state.values()] == ["failed", "queued"]
    assert "cannot reach" in next(iter(state.values()))["error"]
    assert delivery.email_health(store)["failing"]["attempts"] == 1
    assert outbox.stats() == {"pending": 3, "delivered": 0, "dead": 0, "failing": 1}

    # A second before the backoff is over: only the other recipient's email is due (and fails too).
    assert outbox.deliver_due(now=t0 + 1).failed == 1 and sink.received() == []
    assert [r["attempts"] for r in outbox_rows(store)] == [1, 1, 0]
    sink.up()
    report = outbox.deliver_due(now=t0 + 10)
    assert (report.delivered, report.failed, report.pending) == (3, 0, 0)
    assert outbox.deliver_due(now=t0 + 1000).delivered == 0
    got = sink.received()
    assert [plain(m).split("\n\n")[1] for m in got] == ["first", "for bo", "second"]
    assert len({m["Message-ID"] for m in got}) == 3
    assert delivery.email_health(store)["failing"] is None


def test_two_senders_racing_send_each_email_exactly_once_in_order_per_recipient(tmp_path: Path):
    sink = SmtpSink(delay=0.005)
    try:
        db = tmp_path / "faqbot.db"
        store = make_store(db)
        tickets = [ticket(store, f"c{i}@example.com") for i in range(3)]
        for n in range(21):
            store.add_agent_message(int(tickets[n % 3].id or 0), "ann", f"reply {n}")
        senders = [sender(db, sink), sender(db, sink)]

        def work(outbox: OutboxSender) -> Callable[[], None]:
            def run() -> None:
                deadline = time.monotonic() + 20
                while outbox.stats()["pending"] and time.monotonic() < deadline:
                    outbox.deliver_due(limit=2)

            return run

        assert run_together([work(s) for s in senders], timeout=30) == []
        got = sink.received()
        assert len(got) == 21 and len({m["Message-ID"] for m in got}) == 21
        for i in range(3):
            mine = [plain(m).split("\n\n")[1] for m in got if parseaddr(str(m["To"]))[1] == f"c{i}@example.com"]
            assert mine == [f"reply {n}" for n in range(i, 21, 3)]
        assert all(r["attempts"] == 1 and r["delivered_at"] for r in outbox_rows(store))
    finally:
        sink.down()


def test_a_permanent_rejection_is_a_dead_letter_and_a_temporary_one_is_retried(tmp_path: Path, sink: SmtpSink):
    db = tmp_path / "faqbot.db"
    store = make_store(db)
    gone, busy, fine = ticket(store, "gone@example.com"), ticket(store, "busy@example.com"), ticket(store)
    sink.reject["gone@example.com"] = "550 5.1.1 mailbox unavailable"
    sink.reject["busy@example.com"] = "450 4.2.1 try again later"
    for item in (gone, busy, fine):
        store.add_agent_message(int(item.id or 0), "ann", f"hello {item.number}")
    store.add_agent_message(int(gone.id or 0), "ann", "after the dead one")
    outbox = sender(db, sink, max_attempts=5)

    report = outbox.deliver_due()
    # gone: dead at once, and its next email is tried (and dead too); busy: retried later; fine: sent.
    assert (report.delivered, report.failed, report.dead) == (1, 1, 2)
    [letter, second] = outbox.dead_letters()
    assert letter["receiver"] == "gone@example.com" and letter["attempts"] == 1
    assert "550 5.1.1 mailbox unavailable" in letter["last_error"] and second["attempts"] == 1
    assert [parseaddr(str(m["To"]))[1] for m in sink.received()] == ["ada@example.com"]
    states = delivery.delivery_states(store, gone, store.messages(int(gone.id or 0)))
    assert [s["state"] for s in states.values()] == ["dead", "dead"]
    busy_state = next(iter(delivery.delivery_states(store, busy, store.messages(int(busy.id or 0))).values()))
    assert busy_state["state"] == "failed" and "450" in busy_state["error"] and busy_state["next_attempt_at"]

    del sink.reject["busy@example.com"]
    assert outbox.deliver_due(now=time.time() + 60).delivered == 1
    del sink.reject["gone@example.com"]
    message_id = next(iter(states))
    assert delivery.retry_email(store, message_id) and not delivery.retry_email(store, message_id)
    assert outbox.deliver_due().delivered == 1
    assert len(sink.received()) == 3


def test_a_message_refused_after_data_is_dead(tmp_path: Path, sink: SmtpSink):
    db = tmp_path / "faqbot.db"
    store = make_store(db)
    left = ticket(store)
    store.add_agent_message(int(left.id or 0), "ann", "hi")
    sink.data_reply = "554 5.6.0 message refused"
    assert sender(db, sink).deliver_due().dead == 1
    assert "554 5.6.0 message refused" in outbox_rows(store)[0]["last_error"]


def test_wrong_credentials_are_retried_not_dead_and_shown(tmp_path: Path):
    sink = SmtpSink(credentials=("faqbot", "right password"))
    try:
        db = tmp_path / "faqbot.db"
        store = make_store(db)
        left = ticket(store)
        store.add_agent_message(int(left.id or 0), "ann", "hi")
        store.add_agent_message(int(ticket(store, "bo@example.com").id or 0), "ann", "hi bo")
        wrong = sender(db, sink, username="faqbot", password="wrong", max_attempts=3)
        report = wrong.deliver_due()
        assert (report.delivered, report.failed, report.dead) == (0, 1, 0)  # one try stops the round
        [row, untried] = outbox_rows(store)
        assert "refused the login: 535" in row["last_error"] and untried["attempts"] == 0
        assert "refused the login: 535" in (wrong.transport.check() or "")  # type: ignore[attr-defined]
        assert sink.received() == []

        right = sender(db, sink, username="faqbot", password="right password")
        assert right.transport.check() is None  # type: ignore[attr-defined]
        assert right.deliver_due(now=time.time() + 60).delivered == 2
        assert all(m["authenticated"] for m in sink.messages)
    finally:
        sink.down()


# -- TLS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_a_login_only_over_tls(tmp_path: Path, certificate: tuple[Path, Path], security: str):
    context = _server_context(certificate)
    tls = {"tls": context} if security == "starttls" else {"implicit_tls": context}
    sink = SmtpSink(credentials=("faqbot", "secret"), **tls)
    try:
        db = tmp_path / "faqbot.db"
        store = make_store(db)
        store.add_agent_message(int(ticket(store).id or 0), "ann", "over TLS")
        trusted = ssl.create_default_context(cafile=str(certificate[0]))
        outbox = sender(db, sink, security=security, username="faqbot", password="secret", ssl_context=trusted)
        assert outbox.transport.check() is None  # type: ignore[attr-defined]
        assert outbox.deliver_due().delivered == 1
        if security == "starttls":
            assert sink.messages[0]["tls"] and sink.messages[0]["authenticated"]
        # A certificate nobody vouches for is refused: the email waits.
        store.add_agent_message(int(ticket(store).id or 0), "ann", "not to an impostor")
        untrusting = sender(db, sink, security=security, username="faqbot", password="secret")
        assert untrusting.deliver_due().failed == 1
        assert "CERTIFICATE_VERIFY_FAILED" in outbox_rows(store)[-1]["last_error"]
    finally:
        sink.down()


def test_starttls_against_a_server_without_it_fails_clearly(tmp_path: Path, sink: SmtpSink):
    db = tmp_path / "faqbot.db"
    store = make_store(db)
    store.add_agent_message(int(ticket(store).id or 0), "ann", "hi")
    assert sender(db, sink, security="starttls").deliver_due().failed == 1
    assert "STARTTLS" in outbox_rows(store)[0]["last_error"] and sink.received() == []


# -- which ways a reply can take ------------------------------------------------------


def test_without_smtp_a_left_message_cannot_be_answered_and_nothing_is_queued(tmp_path: Path):
    store = make_store(tmp_path / "faqbot.db", mail=False)
    left = ticket(store)
    options = replies.reply_options(left, email_enabled=False)
    assert options.default is None and "no chat" in (options.chat or "") and "SMTP" in (options.email or "")
    with pytest.raises(replies.Undeliverable, match="FAQBOT_SMTP_HOST"):
        store.add_agent_message(int(left.id or 0), "ann", "hello?")
    with pytest.raises(replies.Undeliverable, match="no chat"):
        store.add_agent_message(int(left.id or 0), "ann", "hello?", via="chat")
    assert store.messages(int(left.id or 0)) == [] and store.pending_commands() == 0
    assert store.db.query("SELECT COUNT(*) AS n FROM outbox")[0]["n"] == 0


def test_a_chat_ticket_replies_in_the_chat_or_by_email_when_the_agent_chooses(tmp_path: Path):
    store = make_store(tmp_path / "faqbot.db")
    chat = ticket(store, reason="low_confidence")
    assert replies.reply_options(chat, True).to_dict() == {
        "chat": None, "email": None, "address": "ada@example.com", "default": "chat"
    }  # fmt: skip
    in_chat = store.add_agent_message(int(chat.id or 0), "ann", "in the chat")
    by_email = store.add_agent_message(int(chat.id or 0), "ann", "by email", via="email")
    assert (in_chat.via, by_email.via) == ("chat", "email")
    assert store.pending_commands() == 1 and len(outbox_rows(store)) == 1
    # The chat delivery takes only the chat reply; the email is the outbox's.
    assert [m.text for m in store.take_undelivered(chat.conversation_id)] == ["in the chat"]
    states = delivery.delivery_states(store, chat, store.messages(int(chat.id or 0)))
    assert [(s["via"], s["state"]) for s in states.values()] == [("chat", "sent"), ("email", "queued")]

    no_address = ticket(store, email="", reason="customer_request")
    with pytest.raises(replies.Undeliverable, match="no email address"):
        store.add_agent_message(int(no_address.id or 0), "ann", "x", via="email")
    with pytest.raises(replies.Undeliverable, match="not 'fax'"):
        store.add_agent_message(int(no_address.id or 0), "ann", "x", via="fax")
    without_smtp = make_store(tmp_path / "faqbot.db", mail=False)
    with pytest.raises(replies.Undeliverable, match="SMTP"):
        without_smtp.add_agent_message(int(chat.id or 0), "ann", "x", via="email")


def test_resolving_a_left_message_sends_nothing_to_rasa(tmp_path: Path):
    store = make_store(tmp_path / "faqbot.db")
    left = ticket(store)
    store.transition(int(left.id or 0), "resolve", "ann")
    assert store.pending_commands() == 0


def test_line_breaks_in_a_name_cannot_add_headers(tmp_path: Path):
    store = make_store(tmp_path / "faqbot.db")
    left = ticket(store, name="Ada\r\nBcc: evil@example.com")
    message = composer().compose(left, "ada@example.com", "Ann", "hi\r\n.\r\nQUIT", "d" * 32, time.time())
    assert parseaddr(str(message["To"])) == ("Ada Bcc: evil@example.com", "ada@example.com")
    assert message["Bcc"] is None and "\r\nBcc" not in message.as_string()


def test_an_address_that_cannot_be_used_refuses_the_reply(tmp_path: Path):
    store = make_store(tmp_path / "faqbot.db")
    left = ticket(store, email="a@b@c")
    with pytest.raises(replies.Undeliverable, match="cannot address"):
        store.add_agent_message(int(left.id or 0), "ann", "hi")
    assert store.messages(int(left.id or 0)) == []


# -- the relay and what an older faqbot left behind ----------------------------------------


def _legacy_reply(store: HandoffStore, item: HandoffTicket, text: str) -> None:
    """An agent reply on a left message as faqbot stored it before email: a chat message and a Rasa command."""
    with store.db.transaction() as conn:
        conn.execute(
            "INSERT INTO handoff_messages (ticket_id, conversation_id, role, author, text, created_at)"
            " VALUES (?, ?, 'agent', 'ann', ?, ?)",
            (item.id, item.conversation_id, text, time.time()),
        )
        conn.execute(
            "INSERT INTO rasa_commands (conversation_id, kind, ticket_id, created_at, next_attempt_at)"
            " VALUES (?, 'deliver', ?, ?, ?)",
            (item.conversation_id, item.id, time.time(), time.time()),
        )


def test_the_relay_sends_an_older_faqbots_stuck_replies_by_email(tmp_path: Path, sink: SmtpSink):
    db = tmp_path / "faqbot.db"
    store = make_store(db)
    left = ticket(store)
    _legacy_reply(store, left, "stuck since last week")
    rasa_down = RasaClient(f"http://127.0.0.1:{free_port()}", "token", timeout=0.5)
    assert Relay(store, rasa_down).run_commands() == (1, 0)  # done without Rasa
    assert store.pending_commands() == 0
    assert [m.via for m in store.messages(int(left.id or 0))] == ["email"]
    assert sender(db, sink).deliver_due().delivered == 1
    assert "stuck since last week" in plain(sink.received()[0])


def test_without_smtp_the_relay_closes_the_stuck_command_with_the_reason(tmp_path: Path):
    store = make_store(tmp_path / "faqbot.db", mail=False)
    left = ticket(store)
    _legacy_reply(store, left, "stuck")
    relay = Relay(store, RasaClient(f"http://127.0.0.1:{free_port()}", "token", timeout=0.5))
    assert relay.run_commands() == (1, 0) and relay.run_commands() == (0, 0)  # not retried for ever
    [command] = store.db.query("SELECT done_at, last_error FROM rasa_commands")
    assert command["done_at"] and "FAQBOT_SMTP_HOST" in command["last_error"]
    [state] = delivery.delivery_states(store, left, store.messages(int(left.id or 0))).values()
    assert state["state"] == "undeliverable" and "no chat" in state["error"]
    assert relay.run_once()["failed"] == 0  # a left message is never synced from Rasa either


# -- settings ---------------------------------------------------------------------------


def test_smtp_settings_are_read_and_checked(tmp_path: Path):
    env = {"FAQBOT_SMTP_HOST": "smtp.example.com", "FAQBOT_SMTP_FROM": SENDER}
    settings = from_env(env)
    assert (settings.smtp_port, settings.smtp_security, settings.email_replies) == (587, "starttls", True)
    assert from_env({**env, "FAQBOT_SMTP_SECURITY": "SSL"}).smtp_port == 465
    assert from_env({**env, "FAQBOT_SMTP_SECURITY": "none", "FAQBOT_SMTP_PORT": "2525"}).smtp_port == 2525
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n", encoding="utf-8")
    with_file = from_env({**env, "FAQBOT_SMTP_USERNAME": "bot", "FAQBOT_SMTP_PASSWORD_FILE": str(secret)})
    assert with_file.smtp_password == "s3cret" and "s3cret" not in repr(with_file)
    assert not from_env({}).email_replies
    for bad, match in [
        ({"FAQBOT_SMTP_SECURITY": "tls"}, "starttls, ssl or none"),
        ({"FAQBOT_SMTP_FROM": "nobody"}, "not an email address"),
        ({"FAQBOT_SMTP_FROM": ""}, "FAQBOT_SMTP_FROM"),
        ({"FAQBOT_SMTP_REPLY_TO": "help@"}, "FAQBOT_SMTP_REPLY_TO"),
        ({"FAQBOT_SMTP_USERNAME": "bot"}, "both"),
        ({"FAQBOT_SMTP_PORT": "70000"}, "not a port"),
        ({"FAQBOT_SMTP_TIMEOUT": "0"}, "TIMEOUT"),
        ({"FAQBOT_SMTP_PASSWORD": "x", "FAQBOT_SMTP_PASSWORD_FILE": str(secret)}, "not both"),
        ({"FAQBOT_SMTP_PASSWORD_FILE": str(tmp_path / "missing")}, "cannot read"),
        ({"FAQBOT_SMTP_HOST": "", "FAQBOT_SMTP_FROM": SENDER}, "without FAQBOT_SMTP_HOST"),
    ]:
        with pytest.raises(ConfigError, match=match):
            from_env({**env, **bad})


def test_the_transport_refuses_what_could_never_work():
    for args in [("", 25, SENDER), ("h", 0, SENDER), ("h", 25, "nobody")]:
        with pytest.raises(ValueError):
            SmtpTransport(*args)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SmtpTransport("h", 25, SENDER, security="tls")
    assert SmtpTransport("h", 25, SENDER, timeout=2.0).lease_seconds >= 2.0 * 10
    assert CHANNEL == "email"


def test_a_chat_reply_shows_its_rasa_failure_then_its_delivery(tmp_path: Path):
    store = make_store(tmp_path / "faqbot.db")
    chat = ticket(store, reason="low_confidence")
    store.add_agent_message(int(chat.id or 0), "ann", "hello in the chat")
    Relay(store, RasaClient(f"http://127.0.0.1:{free_port()}", "token", timeout=0.5)).run_commands()
    [state] = delivery.delivery_states(store, chat, store.messages(int(chat.id or 0))).values()
    assert (state["via"], state["state"], state["attempts"]) == ("chat", "failed", 1)
    assert "unreachable" in state["error"] and state["next_attempt_at"] > time.time()
    store.take_undelivered(chat.conversation_id)  # what the Rasa action does once Rasa is back
    [state] = delivery.delivery_states(store, chat, store.messages(int(chat.id or 0))).values()
    assert state["state"] == "sent" and state["at"]


def test_a_sender_that_dies_mid_send_leaves_the_email_to_another_after_its_lease(tmp_path: Path, sink: SmtpSink):
    db = tmp_path / "faqbot.db"
    store = make_store(db)
    store.add_agent_message(int(ticket(store).id or 0), "ann", "survives a crash")
    dying, other = sender(db, sink), sender(db, sink)
    t0 = time.time()
    assert dying._claim(t0) is not None  # claimed, then the process is killed before it records anything
    assert other.deliver_due(now=t0 + 1).delivered == 0 and sink.received() == []  # leased: not sent twice
    lease = other.transport.lease_seconds + OutboxSender.LEASE_MARGIN
    assert other.deliver_due(now=t0 + lease + 1).delivered == 1
    assert len(sink.received()) == 1


def test_the_email_names_the_agent_through_the_stores_agents_not_the_users_table(tmp_path: Path):
    """The handoff store reads no table of the accounts: the agent's name comes from what it was given."""
    db = tmp_path / "faqbot.db"
    make_store(db)  # the accounts say "Ann Example"
    store = HandoffStore(db, mail=composer(), agents=lambda username: "Ann From The Desk")
    left = ticket(store)
    store.add_agent_message(int(left.id or 0), "ann", "Your parcel is on its way.", via="email")
    conn = sqlite3.connect(db)
    try:
        (body,) = conn.execute("SELECT body FROM outbox WHERE channel = ?", (CHANNEL,)).fetchone()
    finally:
        conn.close()
    text = parse(body).get_body(("plain",)).get_content()
    assert "Ann From The Desk" in text and "Ann Example" not in text
