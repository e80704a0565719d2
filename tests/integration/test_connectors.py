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

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

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
                received.append(
                    {"path": url.path, "query": parse_qs(url.query), "body": body, "headers": dict(self.headers)}
                )
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


SLACK_TOKEN = "xoxb-test-token"
SLACK_SECRET = "slack-signing-secret"
MESSENGER_SECRET = "messenger-app-secret"
MESSENGER_VERIFY = "messenger-verify-token"
MESSENGER_PAGE_TOKEN = "messenger-page-token"


@pytest.fixture(scope="module")
def slack_provider() -> Iterator[FakeProvider]:
    """Slack's Web API: chat.postMessage answers as Slack does."""
    provider = FakeProvider(lambda path, body: {"ok": True, "channel": body.get("channel"), "ts": f"{time.time():.6f}"})
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def messenger_provider() -> Iterator[FakeProvider]:
    """The Graph API's Send API: /v*/me/messages answers as Facebook does."""
    provider = FakeProvider(
        lambda path, body: {"recipient_id": (body.get("recipient") or {}).get("id"), "message_id": "m"}
    )
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def connector_bot(
    tmp_path_factory, callback_provider, telegram_provider, twilio_provider, slack_provider, messenger_provider
):
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
        env.setenv("FAQBOT_SLACK_TOKEN", SLACK_TOKEN)
        env.setenv("FAQBOT_SLACK_SIGNING_SECRET", SLACK_SECRET)
        env.setenv("FAQBOT_SLACK_API_BASE", slack_provider.url)
        env.setenv("FAQBOT_MESSENGER_VERIFY_TOKEN", MESSENGER_VERIFY)
        env.setenv("FAQBOT_MESSENGER_APP_SECRET", MESSENGER_SECRET)
        env.setenv("FAQBOT_MESSENGER_PAGE_TOKEN", MESSENGER_PAGE_TOKEN)
        env.setenv("FAQBOT_MESSENGER_API_BASE", messenger_provider.url)
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


# --- Slack -------------------------------------------------------------------------------------


def _slack_sent(provider: FakeProvider, *channels: str) -> list[dict[str, Any]]:
    """What the bot posted to the customer: chat.postMessage calls to their DM or to them, in order."""
    return [
        r["body"]
        for r in provider.requests
        if r["path"] == "/chat.postMessage" and r["body"].get("channel") in channels
    ]


def _slack_post(bot, body: bytes, content_type: str, secret: str = SLACK_SECRET, age: float = 0) -> requests.Response:
    """A request to the Slack webhook signed as Slack signs them (v0, HMAC-SHA256 of timestamp and body)."""
    stamp = str(int(time.time() - age))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}
    return requests.post(f"{bot.settings.rasa_url}/webhooks/slack/webhook", data=body, headers=headers, timeout=60)


def _slack_message(user: str, text: str) -> tuple[bytes, str]:
    """A direct message from ``user`` as the Events API delivers it (body, content type)."""
    event = {"type": "message", "channel_type": "im", "channel": f"D{user}", "user": user, "text": text, "ts": "1.1"}
    body = {"type": "event_callback", "authorizations": [{"user_id": "UBOT"}], "event": event}
    return json.dumps(body).encode(), "application/json"


def _slack_say(bot, user: str, text: str) -> None:
    body, kind = _slack_message(user, text)
    assert _slack_post(bot, body, kind).status_code == 200


def _slack_click(bot, user: str, value: str) -> None:
    action = {"type": "button", "action_id": "a1", "block_id": "b1", "value": value, "text": {"type": "plain_text"}}
    payload = {"type": "block_actions", "user": {"id": user}, "channel": {"id": f"D{user}"}, "actions": [action]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert _slack_post(bot, body, "application/x-www-form-urlencoded").status_code == 200


def _slack_user() -> str:
    return f"U{uuid.uuid4().hex[:10].upper()}"


def test_slack_refuses_unsigned_forged_and_replayed_requests(connector_bot, slack_provider):
    bot, user = connector_bot, _slack_user()
    body, kind = _slack_message(user, "where is my order")
    assert _slack_post(bot, body, kind, secret="forged").status_code == 400
    assert _slack_post(bot, body, kind, age=600).status_code == 400  # a signed request replayed 10 minutes later
    unsigned = requests.post(f"{bot.settings.rasa_url}/webhooks/slack/webhook", data=body, timeout=30, headers={
        "Content-Type": kind})  # fmt: skip
    assert unsigned.status_code == 400
    time.sleep(2)  # (the bot answers Slack in the background: give a wrongly accepted message the time to show)
    assert _slack_sent(slack_provider, f"D{user}", user) == []


def test_slack_answer_and_buttons_as_blocks(connector_bot, slack_provider):
    bot, user = connector_bot, _slack_user()
    _slack_say(bot, user, RETURNS_QUESTION)
    follow_ups = _follow_ups("returns-how")
    answer = KB.get("returns-how", "en").answer

    def said(skip: int = 0) -> str:
        return "\n\n".join(m["text"] for m in _slack_sent(slack_provider, f"D{user}")[skip:])

    bot.wait_for(lambda: said() == answer, what="the answer posted to Slack (the bot answers in the background)")
    sent = _slack_sent(slack_provider, f"D{user}")
    assert all(r["headers"]["Authorization"] == f"Bearer {SLACK_TOKEN}" for r in slack_provider.requests)
    # The follow-up questions: a block of buttons under the answer's last part; a click sends the payload back.
    blocks = json.loads(sent[-1]["blocks"]) if isinstance(sent[-1]["blocks"], str) else sent[-1]["blocks"]
    assert [(b["text"]["text"], b["value"]) for b in blocks[1]["elements"]] == [
        (entry.question, f'/choose_faq{{"faq_id": "{entry.id}"}}') for entry in follow_ups
    ]
    _slack_click(bot, user, blocks[1]["elements"][0]["value"])
    bot.wait_for(lambda: said(len(sent)) == follow_ups[0].answer, what="the follow-up's answer after the click")


def test_slack_handoff_agent_reply_reaches_the_customer(connector_bot, slack_provider):
    bot, user = connector_bot, _slack_user()
    for n, text in enumerate(("I want to talk to a human", "Ada Lovelace", f"{user.lower()}@example.com")):
        _slack_say(bot, user, text)
        bot.wait_for(lambda n=n: len(_slack_sent(slack_provider, f"D{user}")) > n, what="the bot's reply on Slack")
    bot.wait_for(
        lambda: re.search(r"T-\d{6}", " ".join(m["text"] for m in _slack_sent(slack_provider, f"D{user}"))),
        what="the ticket number on Slack",
    )
    said = " ".join(m["text"] for m in _slack_sent(slack_provider, f"D{user}"))
    assert "in the queue" in said, said
    assert bot.store().for_conversation(user)[0].channel == "slack"

    _agent_replies(bot, user, "sue", ["Hi Ada, your parcel left the warehouse today."])
    bot.wait_for(
        lambda: any(
            m["text"] == "Sue Agent (support team): Hi Ada, your parcel left the warehouse today."
            for m in _slack_sent(slack_provider, f"D{user}", user)
        ),
        what="the agent's reply posted to the customer on Slack",
    )


# --- Facebook Messenger -------------------------------------------------------------------------


def _messenger_sent(provider: FakeProvider, psid: str) -> list[dict[str, Any]]:
    """The messages the bot sent the customer (not the typing indicators), in order."""
    return [
        r["body"]["message"]
        for r in provider.requests
        if r["path"].endswith("/me/messages")
        and r["body"].get("recipient", {}).get("id") == psid
        and "message" in r["body"]
    ]


def _messenger_post(bot, psid: str, message: dict[str, Any], secret: str = MESSENGER_SECRET, header: str = "256"):
    event = {"sender": {"id": psid}, "recipient": {"id": "PAGE"}, "timestamp": 1700000000000, "message": message}
    body = json.dumps({"object": "page", "entry": [{"id": "PAGE", "time": 1700000000000, "messaging": [event]}]})
    method = hashlib.sha256 if header == "256" else hashlib.sha1
    signature = f"{method().name}=" + hmac.new(secret.encode(), body.encode(), method).hexdigest()
    name = "X-Hub-Signature-256" if header == "256" else "X-Hub-Signature"
    return requests.post(
        f"{bot.settings.rasa_url}/webhooks/facebook/webhook",
        data=body,
        headers={"Content-Type": "application/json", name: signature},
        timeout=60,
    )


def _messenger_say(bot, psid: str, text: str) -> None:
    response = _messenger_post(bot, psid, {"mid": uuid.uuid4().hex, "text": text})
    assert response.status_code == 200 and response.text == "success"


def _psid() -> str:
    return str(10**15 + uuid.uuid4().int % 10**15)


def test_messenger_verification_and_refused_signatures(connector_bot, messenger_provider):
    bot, psid = connector_bot, _psid()
    url = f"{bot.settings.rasa_url}/webhooks/facebook/webhook"
    verified = requests.get(url, params={"hub.mode": "subscribe", "hub.verify_token": MESSENGER_VERIFY,
                                         "hub.challenge": "c123"}, timeout=30)  # fmt: skip
    assert verified.status_code == 200 and verified.text == "c123"
    assert requests.get(url, params={"hub.verify_token": "wrong", "hub.challenge": "c"}, timeout=30).status_code == 403
    message = {"mid": "m1", "text": "where is my order"}
    assert _messenger_post(bot, psid, message, secret="forged").status_code == 403
    assert _messenger_post(bot, psid, message, secret="forged", header="1").status_code == 403
    body = json.dumps({"object": "page", "entry": []})
    assert requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30).status_code == 403
    assert _messenger_sent(messenger_provider, psid) == []
    # The older SHA-1 signature is still accepted.
    assert _messenger_post(bot, psid, {"mid": "m2", "text": RETURNS_QUESTION}, header="1").status_code == 200
    assert _messenger_sent(messenger_provider, psid)


def test_messenger_answer_and_buttons_as_numbered_quick_replies(connector_bot, messenger_provider):
    bot, psid = connector_bot, _psid()
    _messenger_say(bot, psid, RETURNS_QUESTION)
    sent = _messenger_sent(messenger_provider, psid)
    follow_ups = _follow_ups("returns-how")
    answer = KB.get("returns-how", "en").answer
    assert "\n\n".join(m["text"] for m in sent[:-1]) == answer
    offer = sent[-1]
    # FAQ questions are longer than Messenger's 20-character quick replies: listed by number, picked by number.
    assert offer["text"] == "\n".join(f"{n}. {entry.question}" for n, entry in enumerate(follow_ups, 1))
    assert offer["quick_replies"] == [
        {"content_type": "text", "title": str(n), "payload": f'/choose_faq{{"faq_id": "{entry.id}"}}'}
        for n, entry in enumerate(follow_ups, 1)
    ]
    assert all(r["query"].get("access_token") == [MESSENGER_PAGE_TOKEN] for r in messenger_provider.requests)

    chosen = offer["quick_replies"][1]
    reply = {"mid": uuid.uuid4().hex, "text": "2", "quick_reply": {"payload": chosen["payload"]}}
    assert _messenger_post(bot, psid, reply).text == "success"
    after = _messenger_sent(messenger_provider, psid)[len(sent) :]
    texts = [m["text"] for m in after if "quick_replies" not in m]
    assert "\n\n".join(texts) == follow_ups[1].answer


def test_messenger_handoff_agent_reply_reaches_the_customer(connector_bot, messenger_provider):
    bot, psid = connector_bot, _psid()
    for text in ("I want to talk to a human", "Ada Lovelace", f"ada{psid}@example.com"):
        _messenger_say(bot, psid, text)
    said = " ".join(m.get("text", "") for m in _messenger_sent(messenger_provider, psid))
    assert re.search(r"T-\d{6}", said) and "in the queue" in said, said
    assert bot.store().for_conversation(psid)[0].channel == "facebook"

    _agent_replies(bot, psid, "max", ["Hello Ada, I am looking at your order now."])
    bot.wait_for(
        lambda: any(
            m.get("text") == "Max Agent (support team): Hello Ada, I am looking at your order now."
            for m in _messenger_sent(messenger_provider, psid)
        ),
        what="the agent's reply sent to the customer on Messenger",
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
