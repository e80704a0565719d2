"""Messaging connectors end to end, against fake providers on loopback (no live service).

The real Rasa, action server and web app run with the callback channel
switched on by its environment variables. Each fake provider is a small HTTP
server that records what Rasa sends it. For each connector: a customer's
message in the provider's format gets the right FAQ answer back through the
provider; buttons arrive the way the channel can show them; and after a
handoff through that channel, an agent's reply from the desk reaches the
customer on it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.kb.loader import load_knowledge_base
from bot.settings import PROJECT_ROOT
from tests.servers import LoopbackServer, QuietHandler

pytestmark = pytest.mark.slow

KB = load_knowledge_base(PROJECT_ROOT / "knowledge_base", ("en", "ar", "ru"))
PASSWORD = "connector agent pw"
RETURNS_QUESTION = "How can I send back an item I bought?"  # answered by returns-how, which has follow-ups


class FakeProvider(LoopbackServer):
    """A provider's API on 127.0.0.1: records every request; ``respond(path, body)`` makes the reply."""

    def __init__(self, respond: Callable[[str, dict[str, Any]], Any] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        received, answer = self.requests, respond or (lambda path, body: {"ok": True})

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.headers.get("Content-Type") or ""
                if "json" in kind:
                    body = json.loads(raw or b"{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
                url = urlsplit(self.path)
                received.append({"path": url.path, "query": parse_qs(url.query), "body": body})
                payload = json.dumps(answer(url.path, body)).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        super().__init__(Handler)
        self.url = self.origin


@pytest.fixture(scope="module")
def callback_provider() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    yield provider
    provider.close()


TELEGRAM_TOKEN = "123456:TEST-token"
TELEGRAM_BOT = "faqbot_test_bot"
TELEGRAM_SECRET = "telegram-webhook-secret"
TELEGRAM_WEBHOOK = "https://bot.example/webhooks/telegram/webhook"


def _telegram_api(path: str, body: dict[str, Any]) -> Any:
    """Answers of the Bot API methods Rasa calls, in the shapes aiogram parses."""
    method = path.rsplit("/", 1)[-1]
    if method == "getMe":
        result: Any = {"id": 123456, "is_bot": True, "first_name": "Shop", "username": TELEGRAM_BOT}
    elif method == "sendMessage":
        chat = {"id": int(body["chat_id"]), "type": "private"}
        result = {"message_id": 1, "date": 1700000000, "chat": chat, "text": body.get("text", "")}
    else:  # setWebhook, answerCallbackQuery, ...
        result = True
    return {"ok": True, "result": result}


@pytest.fixture(scope="module")
def telegram_provider() -> Iterator[FakeProvider]:
    provider = FakeProvider(_telegram_api)
    yield provider
    provider.close()


TWILIO_SID = "AC00000000000000000000000000000000"
TWILIO_NUMBER = "+15550000000"


@pytest.fixture(scope="module")
def twilio_provider() -> Iterator[FakeProvider]:
    provider = FakeProvider(lambda path, body: {"sid": f"SM{uuid.uuid4().hex}", "body": body["Body"]})
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def connector_bot(tmp_path_factory, callback_provider, telegram_provider, twilio_provider):
    """The real bot with the connectors switched on by their variables, as `faqbot run` would."""
    from tests.servers import running_bot

    with pytest.MonkeyPatch.context() as env:
        env.setenv("FAQBOT_CALLBACK_URL", f"{callback_provider.url}/bot-says")
        env.setenv("FAQBOT_CALLBACK_TOKEN", "callback-secret")
        env.setenv("FAQBOT_TELEGRAM_TOKEN", TELEGRAM_TOKEN)
        env.setenv("FAQBOT_TELEGRAM_BOT_NAME", TELEGRAM_BOT)
        env.setenv("FAQBOT_TELEGRAM_WEBHOOK_URL", TELEGRAM_WEBHOOK)
        env.setenv("FAQBOT_TELEGRAM_SECRET_TOKEN", TELEGRAM_SECRET)
        env.setenv("FAQBOT_TELEGRAM_API_SERVER", telegram_provider.url)
        env.setenv("FAQBOT_TWILIO_ACCOUNT_SID", TWILIO_SID)
        env.setenv("FAQBOT_TWILIO_AUTH_TOKEN", "twilio-auth-token")
        env.setenv("FAQBOT_TWILIO_NUMBER", TWILIO_NUMBER)
        env.setenv("FAQBOT_TWILIO_API_BASE", twilio_provider.url)
        with running_bot(tmp_path_factory.mktemp("connectors-var")) as bot:
            env.undo()  # the servers have their environment; keep it from other tests
            yield bot


def _desk(bot, username: str) -> requests.Session:
    return bot.desk_session(username, PASSWORD)


def _agent_replies(bot, conversation_id: str, username: str, texts: list[str]) -> None:
    """The customer's ticket claimed and answered by an agent through the desk's HTTP API."""
    (ticket,) = bot.store().for_conversation(conversation_id)
    assert ticket.status == "waiting", ticket
    desk = _desk(bot, username)
    base = f"{bot.web_url}/desk/tickets/{ticket.id}"
    assert desk.post(f"{base}/claim", timeout=10).json()["agent"] == username
    for text in texts:
        assert desk.post(f"{base}/reply", json={"text": text}, timeout=10).status_code == 201


def _follow_ups(faq_id: str) -> list[Any]:
    source = KB.get(faq_id, "en")
    assert source is not None and source.related
    return [entry for entry in (KB.get(related, "en") for related in source.related) if entry][:3]


# --- callback --------------------------------------------------------------------------------


def _callback_messages(provider: FakeProvider, recipient: str) -> list[dict[str, Any]]:
    return [r["body"] for r in provider.requests if r["body"].get("recipient_id") == recipient]


def _callback_say(bot, sender: str, text: str) -> None:
    response = requests.post(
        f"{bot.settings.rasa_url}/webhooks/callback/webhook", json={"sender": sender, "message": text}, timeout=60
    )
    assert response.ok and response.text == "success"


def test_callback_answer_with_follow_up_buttons_as_json(connector_bot, callback_provider):
    bot, sender = connector_bot, f"cb-{uuid.uuid4().hex[:8]}"
    _callback_say(bot, sender, RETURNS_QUESTION)
    messages = bot.wait_for(lambda: _callback_messages(callback_provider, sender), what="the callback's messages")
    assert "\n\n".join(m["text"] for m in messages) == KB.get("returns-how", "en").answer
    assert messages[-1]["buttons"] == [
        {"title": entry.question, "payload": f'/choose_faq{{"faq_id": "{entry.id}"}}'}
        for entry in _follow_ups("returns-how")
    ]
    assert all(r["query"] == {"token": ["callback-secret"]} for r in callback_provider.requests)
    assert {r["path"] for r in callback_provider.requests} == {"/bot-says"}


def test_callback_handoff_agent_reply_reaches_the_customer(connector_bot, callback_provider):
    bot, sender = connector_bot, f"cb-{uuid.uuid4().hex[:8]}"
    for text in ("I want to talk to a human", "Ada Lovelace", f"{sender}@example.com"):
        _callback_say(bot, sender, text)
    said = " ".join(m.get("text") or "" for m in _callback_messages(callback_provider, sender))
    assert re.search(r"T-\d{6}", said) and "in the queue" in said, said
    assert bot.store().for_conversation(sender)[0].channel == "callback"

    _agent_replies(bot, sender, "ivy", ["Hello Ada, your refund is on its way."])
    bot.wait_for(
        lambda: any(
            m.get("text") == "Ivy Agent (support team): Hello Ada, your refund is on its way."
            for m in _callback_messages(callback_provider, sender)
        ),
        what="the agent's reply at the callback URL",
    )


# --- Telegram --------------------------------------------------------------------------------


def _telegram_sent(provider: FakeProvider, chat_id: int) -> list[dict[str, Any]]:
    """What the bot sent the customer: sendMessage calls to their chat, in order."""
    return [
        r["body"]
        for r in provider.requests
        if r["path"] == f"/bot{TELEGRAM_TOKEN}/sendMessage" and r["body"].get("chat_id") == str(chat_id)
    ]


def _telegram_update(chat_id: int, text: str | None = None, button: str | None = None) -> dict[str, Any]:
    message = {
        "message_id": 7,
        "date": 1700000000,
        "chat": {"id": chat_id, "type": "private", "first_name": "Ada"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Ada"},
    }
    if button is None:
        return {"update_id": chat_id, "message": {**message, "text": text}}
    query = {"id": "cb1", "from": message["from"], "chat_instance": "1", "data": button, "message": message}
    return {"update_id": chat_id, "callback_query": query}


def _telegram_post(bot, update: dict[str, Any], secret: str = TELEGRAM_SECRET) -> requests.Response:
    return requests.post(
        f"{bot.settings.rasa_url}/webhooks/telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": secret},
        timeout=60,
    )


def _telegram_chat() -> int:
    return 10_000_000 + uuid.uuid4().int % 10_000_000


def test_telegram_webhook_is_set_with_its_secret_and_unsigned_updates_are_refused(connector_bot, telegram_provider):
    bot, chat = connector_bot, _telegram_chat()
    webhook_calls = [r["body"] for r in telegram_provider.requests if r["path"].endswith("/setWebhook")]
    assert {"url": TELEGRAM_WEBHOOK, "secret_token": TELEGRAM_SECRET} in webhook_calls
    assert requests.get(f"{bot.settings.rasa_url}/webhooks/telegram/set_webhook", timeout=30).ok  # again, by hand
    webhook_calls = [r["body"] for r in telegram_provider.requests if r["path"].endswith("/setWebhook")]
    assert webhook_calls[-1] == {"url": TELEGRAM_WEBHOOK, "secret_token": TELEGRAM_SECRET}
    assert _telegram_post(bot, _telegram_update(chat, "hello"), secret="forged").status_code == 403
    assert _telegram_sent(telegram_provider, chat) == []


def test_telegram_answer_and_buttons_as_an_inline_keyboard(connector_bot, telegram_provider):
    bot, chat = connector_bot, _telegram_chat()
    assert _telegram_post(bot, _telegram_update(chat, RETURNS_QUESTION)).text == "success"
    sent = bot.wait_for(lambda: _telegram_sent(telegram_provider, chat), what="the answer sent to Telegram")
    assert "\n\n".join(m["text"] for m in sent) == KB.get("returns-how", "en").answer
    keyboard = json.loads(sent[-1]["reply_markup"])["inline_keyboard"]
    follow_ups = _follow_ups("returns-how")
    assert keyboard == [  # one question per row; a tap sends the payload back
        [{"text": entry.question, "callback_data": f'/choose_faq{{"faq_id": "{entry.id}"}}'}] for entry in follow_ups
    ]

    assert _telegram_post(bot, _telegram_update(chat, button=keyboard[0][0]["callback_data"])).text == "success"
    after = _telegram_sent(telegram_provider, chat)[len(sent) :]
    assert "\n\n".join(m["text"] for m in after) == follow_ups[0].answer


def test_telegram_handoff_agent_reply_reaches_the_customer(connector_bot, telegram_provider):
    bot, chat = connector_bot, _telegram_chat()
    for text in ("I want to talk to a human", "Ada Lovelace", f"ada{chat}@example.com"):
        assert _telegram_post(bot, _telegram_update(chat, text)).text == "success"
    said = " ".join(m["text"] for m in _telegram_sent(telegram_provider, chat))
    assert re.search(r"T-\d{6}", said) and "in the queue" in said, said
    assert bot.store().for_conversation(str(chat))[0].channel == "telegram"

    _agent_replies(bot, str(chat), "tom", ["Hi Ada, I have your order in front of me."])
    bot.wait_for(
        lambda: any(
            m["text"] == "Tom Agent (support team): Hi Ada, I have your order in front of me."
            for m in _telegram_sent(telegram_provider, chat)
        ),
        what="the agent's reply sent to the customer's Telegram chat",
    )


# --- Twilio SMS: no buttons --------------------------------------------------------------------


def _sms_received(provider: FakeProvider, phone: str) -> list[str]:
    """The texts the customer's phone got: Messages.json calls to their number, in order."""
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    return [
        r["body"]["Body"]
        for r in provider.requests
        if r["path"] == path and r["body"]["To"] == phone and r["body"]["From"] == TWILIO_NUMBER
    ]


def _sms_send(bot, phone: str, text: str) -> None:
    response = requests.post(
        f"{bot.settings.rasa_url}/webhooks/twilio/webhook",
        data={"From": phone, "To": TWILIO_NUMBER, "Body": text, "MessageSid": f"SM{uuid.uuid4().hex}"},
        timeout=60,
    )
    assert response.status_code == 204


def _phone() -> str:
    return f"+1555{uuid.uuid4().int % 10_000_000:07d}"


def test_sms_buttons_become_a_numbered_list_and_a_number_picks_one(connector_bot, twilio_provider):
    bot, phone = connector_bot, _phone()
    _sms_send(bot, phone, RETURNS_QUESTION)
    received = _sms_received(twilio_provider, phone)
    follow_ups = _follow_ups("returns-how")
    # What the customer's phone shows: the answer, then the follow-up questions by number (no payloads).
    assert received == [
        *KB.get("returns-how", "en").answer.split("\n\n"),
        "\n".join(f"{i}. {entry.question}" for i, entry in enumerate(follow_ups, 1)),
    ]
    _sms_send(bot, phone, "2")
    assert "\n\n".join(_sms_received(twilio_provider, phone)[len(received) :]) == follow_ups[1].answer


def test_sms_handoff_agent_reply_reaches_the_customer(connector_bot, twilio_provider):
    bot, phone = connector_bot, _phone()
    for text in ("I want to talk to a human", "Ada Lovelace", "ada.sms@example.com"):
        _sms_send(bot, phone, text)
    said = " ".join(_sms_received(twilio_provider, phone))
    assert re.search(r"T-\d{6}", said) and "in the queue" in said, said
    assert bot.store().for_conversation(phone)[0].channel == "twilio"

    _agent_replies(bot, phone, "sam", ["Hello Ada, a courier will call you today."])
    bot.wait_for(
        lambda: (
            "Sam Agent (support team): Hello Ada, a courier will call you today."
            in _sms_received(twilio_provider, phone)
        ),
        what="the agent's reply sent as an SMS",
    )


# --- every connector: oversized and unreadable messages are refused before NLU -------------------


def test_every_connector_refuses_an_oversized_message_politely(
    connector_bot, callback_provider, telegram_provider, twilio_provider
):
    bot, huge = connector_bot, ("where is my order " * 6000).strip()  # 107,999 characters
    too_long = f"That message is too long for me to read ({len(huge)} characters)"
    sender, chat, phone = f"cb-{uuid.uuid4().hex[:8]}", _telegram_chat(), _phone()
    _callback_say(bot, sender, huge)
    assert _telegram_post(bot, _telegram_update(chat, huge)).text == "success"
    _sms_send(bot, phone, huge)
    _sms_send(bot, phone, "🙂🙂")
    said = {
        "callback": [m.get("text") or "" for m in _callback_messages(callback_provider, sender)],
        "telegram": [m["text"] for m in _telegram_sent(telegram_provider, chat)],
        "twilio": _sms_received(twilio_provider, phone),
    }
    assert all(len(texts) >= 1 and texts[0].startswith(too_long) for texts in said.values()), said
    assert said["twilio"][1] == "Sorry, I couldn't read that message. Could you type your question in words?"
