"""The chat widget's own API: the greeting and suggested questions of an empty panel, thumbs on
answers, what it missed while disconnected, and "leave a message" when the bot is unreachable; and
the CORS header of the widget's own ES modules.

Public (customers are not signed in), so: JSON only, small bodies, requests
from the web app's own origin or from ``FAQBOT_WIDGET_ORIGINS`` only (CORS
answers those and refuses the rest), and a per-address rate limit
(``FAQBOT_WIDGET_*_LIMIT``, counted on Redis and shared by the replicas when
there is one: ``bot/ratelimit.py``). A conversation is named by the widget's
session id, a random secret the browser keeps (the same that joins its
socket.io room); history is only given for conversations held over
socket.io, never for a guessable id such as a phone number of an SMS
conversation.

The widget's code is public: ``static/widget.js`` is a classic script any page may embed, and the
ES modules it imports from ``static/widget/`` are fetched by browsers in CORS mode without cookies,
so they are served with ``Access-Control-Allow-Origin: *`` (widget.js, a classic script, needs none).
Which sites may *talk* to the bot is decided where it matters: here and at Rasa's socket.io.
"""

from __future__ import annotations

import posixpath
import threading
import time
from typing import Any, cast

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from bot.errors import HandoffError
from bot.handoff.context import clean_email, clean_name
from bot.handoff.models import HandoffTicket
from bot.rasa.client import RasaClient, RasaUnavailable
from bot.rasa.messages import MAX_CONVERSATION_ID_CHARS
from bot.rasa.widget import find_answer, widget_history
from bot.storage.database import StorageError
from bot.storage.feedback import VALUES
from bot.web.common import handoff_store, services, settings
from bot.web.welcome import Welcome

bp = Blueprint("widget_api", __name__, url_prefix="/widget/api")
#: Makes the app's one ``Welcome`` once when requests race.
_welcome_lock = threading.Lock()

#: The widget's Rasa channel: conversations the widget may read back, and where left messages come from.
WIDGET_CHANNEL = "socketio"
#: Static files under this folder are the widget's ES modules (readable from any origin).
MODULES_FOLDER = "widget/"
#: Messages one history call returns at most (the latest).
MAX_HISTORY = 100
#: Entries of the widget's own transcript kept with a left message, and their length.
MAX_TRANSCRIPT_ENTRIES, MAX_ENTRY_CHARS = 50, 2000


def _origin_allowed(origin: str) -> bool:
    if not origin:
        return True  # not a browser's cross-site request (curl, a server)
    own = request.host_url.rstrip("/")
    allowed = settings().widget_origins
    return origin.rstrip("/") in (own, settings().web_url) or "*" in allowed or origin.rstrip("/") in allowed


@bp.before_request
def check_origin() -> ResponseReturnValue | None:
    origin = request.headers.get("Origin", "")
    if not _origin_allowed(origin):
        return jsonify(error=f"the widget API does not accept requests from {origin}: see FAQBOT_WIDGET_ORIGINS"), 403
    if request.method == "OPTIONS":
        return Response(status=204)
    return None


@bp.after_request
def cors_headers(response: Response) -> Response:
    origin = request.headers.get("Origin", "")
    if origin and _origin_allowed(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
        response.headers.add("Vary", "Origin")
    return response


@bp.after_app_request
def module_cors(response: Response) -> Response:
    """Lets a host site's page import the widget's modules (public code, fetched without credentials)."""
    # normalised as the static view resolves it: "widget/../desk.js" is desk.js, not a module
    filename = posixpath.normpath(str((request.view_args or {}).get("filename", "")))
    if request.endpoint == "static" and filename.startswith(MODULES_FOLDER):
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _rate_limited(kind: str) -> bool:
    """True when this address has used up its allowance of ``kind`` requests (the request is not counted)."""
    s = settings()
    limits = {
        "feedback": s.widget_feedback_limit,
        "message": s.widget_message_limit,
        "history": s.widget_history_limit,
        "welcome": s.widget_history_limit,  # reads, like history
    }
    count, period = limits[kind]
    if count <= 0 or period <= 0:
        return False
    return services().rate_store.take(f"widget:{kind}:{request.remote_addr}", count, period) > 0


def _rasa() -> RasaClient:
    return services().rasa()


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    return " ".join(str(value).split())[:limit] if isinstance(value, (str, int, float)) else ""


def _welcome() -> Welcome:
    """The app's one ``Welcome`` (made on first use; it caches the knowledge base and the counts)."""
    with _welcome_lock:
        welcome = current_app.extensions.get("faqbot_welcome")
        if welcome is None:
            welcome = current_app.extensions["faqbot_welcome"] = Welcome(settings())
    return cast(Welcome, welcome)


@bp.get("/welcome")
def welcome() -> ResponseReturnValue:
    """What an empty panel shows: ``?lang=ar`` -> ``{"language", "greeting", "suggestions": [{"title",
    "payload"}]}``. The greeting is the bot's ``utter_greet`` (domain.yml); the suggestions are the
    editors' pick (knowledge_base/widget.yml), else the most asked FAQs of that language. An unknown
    language gets the default language's."""
    if _rate_limited("welcome"):
        return jsonify(error="too many requests from this address: try again in a minute"), 429
    lang = (request.args.get("lang") or "").strip().lower()[:8]
    response = jsonify(_welcome().for_language(lang))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/feedback", methods=["POST", "OPTIONS"])
def feedback() -> ResponseReturnValue:
    """Thumbs up / down on one answer: ``{"conversation_id", "answer_id", "value": "up" | "down"}``."""
    if _rate_limited("feedback"):
        return jsonify(error="too many votes from this address: try again in a minute"), 429
    data = _body()
    conversation_id = _text(data, "conversation_id", MAX_CONVERSATION_ID_CHARS)
    answer_id = _text(data, "answer_id", MAX_CONVERSATION_ID_CHARS)
    value = _text(data, "value", 8)
    if not conversation_id or not answer_id or value not in VALUES:
        return jsonify(error='send {"conversation_id", "answer_id", "value": "up" or "down"}'), 400
    try:
        answer = find_answer(_rasa().tracker(conversation_id), answer_id)
    except RasaUnavailable as exc:
        current_app.logger.warning("cannot check a vote on %s: %s", conversation_id, exc)
        return jsonify(error="the bot is unreachable right now: the vote is kept and sent again later"), 503
    if answer is None:
        return jsonify(error="no such answer in this conversation"), 404
    try:
        row = services().feedback_store.vote(answer, value)
    except StorageError as exc:
        current_app.logger.error("cannot store a vote: %s", exc)
        return jsonify(error="votes cannot be stored right now: try again later"), 503
    return jsonify(faq_id=row["faq_id"], kb_version=row["kb_version"], value=value)


@bp.route("/history", methods=["POST", "OPTIONS"])
def history() -> ResponseReturnValue:
    """The conversation's messages after ``after`` (a bot message's timestamp; 0: all), oldest first:
    ``{"conversation_id", "after"}`` -> ``{"messages": [{"from", "text", "buttons", "metadata": {"faqbot"}}]}``.

    POST, so the session id never lands in a URL or an access log.
    """
    if _rate_limited("history"):
        return jsonify(error="too many requests from this address: try again in a minute"), 429
    data = _body()
    conversation_id = _text(data, "conversation_id", MAX_CONVERSATION_ID_CHARS)
    try:
        after = float(data.get("after") or 0.0)
    except (TypeError, ValueError):
        return jsonify(error="after is a timestamp"), 400
    if not conversation_id:
        return jsonify(error='send {"conversation_id", "after"}'), 400
    try:
        tracker = _rasa().tracker(conversation_id)
    except RasaUnavailable as exc:
        current_app.logger.warning("cannot read the history of a widget conversation: %s", exc)
        return jsonify(error="the bot is unreachable right now"), 503
    messages = widget_history(tracker, after, WIDGET_CHANNEL)
    if messages is None:
        return jsonify(error="no such conversation"), 404
    return jsonify(messages=messages[-MAX_HISTORY:])


@bp.route("/messages", methods=["POST", "OPTIONS"])
def leave_message() -> ResponseReturnValue:
    """A message left while the bot is unreachable: a ticket for people, answered by email.

    ``{"email", "message", "name"?, "conversation_id"?, "language"?, "page_url"?, "customer_id"?,
    "transcript"?: [{"from": "user"|"bot", "text"}]}`` -> ``{"ticket_number"}``. The ticket's
    transcript is the message alone; the widget's ``transcript`` is kept as the customer's copy of
    the chat, shown to agents as unverified.
    """
    if _rate_limited("message"):
        return jsonify(error="too many messages from this address: try again in a few minutes"), 429
    config = settings()
    data = _body()
    message = str(data.get("message") or "").strip()
    email = clean_email(_text(data, "email", 254))
    given_name = _text(data, "name", 200)
    name = clean_name(given_name)
    errors = {}
    if given_name and name is None:
        errors["name"] = "not a name: letters, spaces, apostrophes, hyphens and dots only"
    if not message:
        errors["message"] = "empty"
    elif len(message) > config.max_message_chars:
        errors["message"] = f"longer than {config.max_message_chars} characters"
    if not email:
        errors["email"] = "not an email address"
    if errors:
        return jsonify(error="please check the form", fields=errors), 400
    language = _text(data, "language", 8)
    customer = {"customer_email": str(email)}
    if name:
        customer["customer_name"] = name
    for key in ("customer_id", "page_url"):
        value = _text(data, key, 500)
        if value:
            customer[key] = value
    conversation_id = _text(data, "conversation_id", MAX_CONVERSATION_ID_CHARS) or f"web-message-{time.time_ns():x}"
    ticket = HandoffTicket(
        conversation_id=conversation_id,
        channel=WIDGET_CHANNEL,
        language=language if language in config.languages else config.default_language,
        customer=customer,
        question=message,
        candidates=[],
        reason="offline_message",
        transcript=[{"role": "customer", "text": message, "timestamp": time.time()}],
        customer_copy=_customer_copy(data.get("transcript")),
    )
    try:
        stored = handoff_store().create(ticket)
    except (HandoffError, StorageError) as exc:
        current_app.logger.error("cannot store a left message: %s", exc)
        return jsonify(error="your message could not be stored: please try again in a moment"), 503
    current_app.logger.info("message left as %s for %s", stored.number, conversation_id)
    return jsonify(ticket_number=stored.number, email=email), 201


def _customer_copy(entries: Any) -> list[dict[str, Any]]:
    """The chat as the customer's widget kept it: unverified (a browser can send anything), so it is
    stored apart from the transcript, which holds only what the server recorded."""
    copy: list[dict[str, Any]] = []
    for entry in entries[-MAX_TRANSCRIPT_ENTRIES:] if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("from") in ("user", "bot") and isinstance(entry.get("text"), str):
            role = "customer" if entry["from"] == "user" else "bot"
            copy.append({"role": role, "text": entry["text"][:MAX_ENTRY_CHARS]})
    return copy
