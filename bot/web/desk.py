"""The agent desk: a live queue, the ticket with its full context, replies, notes, resolve.

Pages are server-rendered; ``desk.js`` keeps them live through server-sent
events (``/desk/events`` for the queue, ``/desk/tickets/<id>/events`` for a
conversation). The ticket page offers the canned replies of the ticket's language
(``bot.kb.canned``) beside the knowledge-base search; both insert into the
reply box. Every action is a POST with the session's CSRF token and
answers JSON; a refused transition (someone else claimed first) is 409, and
so is a reply that has no way to reach the customer. Each agent reply shows
how far it got (in the chat or by email: queued, sent, failed and retrying,
dead), and the ticket says before the agent types which ways are open.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue

from bot.editing.drafts import add_alternate, write_draft
from bot.errors import FaqbotError, HandoffError, KnowledgeBaseError
from bot.handoff import delivery, replies
from bot.handoff.models import HandoffMessage, HandoffTicket, InvalidMessage, TransitionError
from bot.handoff.replies import Undeliverable
from bot.kb.canned import load_canned
from bot.rasa.client import RasaUnavailable
from bot.redact import mask_payment_data
from bot.storage.database import StorageError
from bot.web.auth import current_session_id, current_user, login_required, session_alive
from bot.web.common import handoff_store, services, settings

bp = Blueprint("desk", __name__, url_prefix="/desk")
logger = logging.getLogger(__name__)

#: An event stream ends after this long and the browser reconnects (frees the server thread).
STREAM_SECONDS = 25.0
#: The queue is sent again at least this often (its waiting times move on), changed or not.
QUEUE_REFRESH = 10.0
#: A ticket page's stream reads again at least this often even without a change notice (seconds).
TICKET_REFRESH = 5.0
#: What an event stream sends when its session has ended (signed out, password or role changed).
SIGNED_OUT = {"error": "You were signed out: sign in again.", "signed_out": True}


@bp.errorhandler(TransitionError)
@bp.errorhandler(Undeliverable)
def refused(exc: HandoffError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 409


@bp.errorhandler(KnowledgeBaseError)
@bp.errorhandler(HandoffError)
@bp.errorhandler(StorageError)
def failed(exc: FaqbotError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 400 if isinstance(exc, (KnowledgeBaseError, InvalidMessage)) else 503


def _wake_relay() -> None:
    """Run the relay and the outbox now: a reply or a resolve has just queued something."""
    for name in ("faqbot_relay", "faqbot_outbox"):
        worker = current_app.extensions.get(name)
        if worker is not None:
            worker.wake()


def _ticket_or_404(ticket_id: int) -> HandoffTicket:
    ticket = handoff_store().get(ticket_id)
    if ticket is None:
        abort(404)
    return ticket


def queue_snapshot(user: str) -> dict[str, Any]:
    """The queue as agents see it: waiting (oldest first), mine, others', recently closed."""
    now = time.time()
    store = handoff_store()

    def item(t: HandoffTicket) -> dict[str, Any]:
        return {
            "id": t.id,
            "number": t.number,
            "status": t.status,
            "question": t.question,
            "customer": t.customer.get("customer_name") or t.customer.get("customer_email") or "",
            "language": t.language,
            "channel": t.channel,
            "reason": t.reason,
            "agent": t.agent,
            "waiting_seconds": round(now - t.created_at),
            "rating": t.rating_score,
        }

    open_tickets = store.open_tickets()
    return {
        "waiting": [item(t) for t in open_tickets if t.status == "waiting"],
        "mine": [item(t) for t in open_tickets if t.status == "with_agent" and t.agent == user],
        "others": [item(t) for t in open_tickets if t.status == "with_agent" and t.agent != user],
        "closed": [item(t) for t in store.tickets(limit=60) if not t.is_open][:20],
    }


def message_views(ticket: HandoffTicket, messages: list[HandoffMessage]) -> list[dict[str, Any]]:
    """The messages as the desk shows them: an agent reply has ``delivery`` (see replies.delivery_states)."""
    states = delivery.delivery_states(handoff_store(), ticket, messages)
    return [{**m.to_dict(), "delivery": states.get(m.id)} for m in messages]


def reply_view(ticket: HandoffTicket) -> dict[str, Any]:
    """Which ways a reply can take now, and the email channel's health, for the reply box."""
    store = handoff_store()
    options = replies.reply_options(ticket, store.mail is not None)
    return {**options.to_dict(), "email_health": delivery.email_health(store)}


def ticket_view(ticket: HandoffTicket) -> dict[str, Any]:
    store = handoff_store()
    return {
        "ticket": ticket.to_dict(),
        "messages": message_views(ticket, store.messages(int(ticket.id or 0))),
        "reply": reply_view(ticket),
        "related": [
            {
                "id": t.id,
                "number": t.number,
                "status": t.status,
                "question": t.question,
                "channel": t.channel,
                "created_at": t.created_at,
                "rating": t.rating_score,
            }
            for t in store.related(ticket)
        ],  # fmt: skip
    }


def _sse(stream: Iterator[str]) -> Response:
    response = Response(stream_with_context(stream), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@bp.get("/")
@login_required("agent")
def queue() -> str:
    user = current_user()
    assert user is not None
    try:
        snapshot, error = queue_snapshot(user.username), None
    except (HandoffError, StorageError) as exc:
        snapshot, error = {"waiting": [], "mine": [], "others": [], "closed": []}, str(exc)
    return render_template("desk_queue.html", queue=snapshot, user=user, error=error)


@bp.get("/queue.json")
@login_required("agent")
def queue_json() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    return jsonify(queue_snapshot(user.username))


@bp.get("/events")
@login_required("agent")
def queue_events() -> Response:
    """The queue, sent again whenever it changes (and every few seconds, for the waiting times)."""
    user = current_user()
    assert user is not None
    username, session_id = user.username, current_session_id()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    changes = services().changes

    def stream() -> Iterator[str]:
        yield "retry: 1000\n\n"
        last, last_sent, deadline = "", 0.0, time.monotonic() + STREAM_SECONDS
        while time.monotonic() < deadline:
            seen = changes.generation  # before reading: a change made while reading wakes the wait below
            with app.app_context():
                try:
                    if not session_alive(session_id):
                        yield _event("failure", SIGNED_OUT)
                        return
                    snapshot = queue_snapshot(username)
                except (HandoffError, StorageError) as exc:
                    yield _event("failure", {"error": str(exc)})
                    return
            digest = hashlib.sha1(json.dumps({k: [(i["id"], i["status"], i["agent"]) for i in v]
                                              for k, v in snapshot.items()}).encode()).hexdigest()  # fmt: skip
            if digest != last or time.monotonic() - last_sent > QUEUE_REFRESH:
                last, last_sent = digest, time.monotonic()
                yield _event("queue", snapshot)
            now = time.monotonic()
            changes.wait(seen, max(0.0, min(deadline - now, last_sent + QUEUE_REFRESH - now)))

    return _sse(stream())


@bp.get("/tickets/<int:ticket_id>")
@login_required("agent")
def ticket(ticket_id: int) -> str:
    item = _ticket_or_404(ticket_id)
    view = ticket_view(item)
    return render_template(
        "desk_ticket.html",
        ticket=item,
        messages=view["messages"],
        related=view["related"],
        reply=view["reply"],
        canned=load_canned(settings().kb_dir, (item.language,)).for_language(item.language),
        typing_interval=settings().agent_typing_interval,
        user=current_user(),
    )


@bp.get("/tickets/<int:ticket_id>.json")
@login_required("agent")
def ticket_json(ticket_id: int) -> ResponseReturnValue:
    return jsonify(ticket_view(_ticket_or_404(ticket_id)))


@bp.get("/tickets/<int:ticket_id>/events")
@login_required("agent")
def ticket_events(ticket_id: int) -> Response:
    """New messages (``message``) and status changes (``ticket``) of one conversation."""
    _ticket_or_404(ticket_id)
    try:
        after = int(request.args.get("after") or request.headers.get("Last-Event-ID") or 0)
    except ValueError:
        after = 0
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    session_id = current_session_id()
    changes = services().changes

    def stream() -> Iterator[str]:
        yield "retry: 1000\n\n"
        state, deadline = "", time.monotonic() + STREAM_SECONDS
        delivery: dict[int, str] = {}
        while time.monotonic() < deadline:
            seen = changes.generation
            with app.app_context():
                store = handoff_store()
                try:
                    if not session_alive(session_id):
                        yield _event("failure", SIGNED_OUT)
                        return
                    current = store.get(ticket_id)
                    views = message_views(current, store.messages(ticket_id)) if current is not None else []
                    options = reply_view(current) if current is not None else None
                except (HandoffError, StorageError) as exc:
                    yield _event("failure", {"error": str(exc)})
                    return
            for view in views:
                known = view["id"] in delivery
                key = json.dumps([view["delivered_at"], view["delivery"]], sort_keys=True)
                if (view["id"] > after and not known) or (known and delivery[view["id"]] != key):
                    yield f"id: {view['id']}\n" + _event("message", view)
                delivery[view["id"]] = key
            if current is not None:
                key = json.dumps([current.status, current.agent, current.rating_score, options], sort_keys=True)
                if key != state:
                    state = key
                    yield _event("ticket", {**current.to_dict(), "reply": options})
            changes.wait(seen, max(0.0, min(deadline - time.monotonic(), TICKET_REFRESH)))

    return _sse(stream())


def _me() -> str:
    user = current_user()
    assert user is not None
    return user.username


def _is_admin() -> bool:
    user = current_user()
    return user is not None and user.role == "admin"


@bp.post("/tickets/<int:ticket_id>/claim")
@login_required("agent")
def claim(ticket_id: int) -> ResponseReturnValue:
    return jsonify(handoff_store().transition(ticket_id, "claim", _me()).to_dict())


@bp.post("/tickets/<int:ticket_id>/release")
@login_required("agent")
def release(ticket_id: int) -> ResponseReturnValue:
    owner = None if _is_admin() else _me()
    return jsonify(handoff_store().transition(ticket_id, "release", _me(), owner=owner).to_dict())


@bp.post("/tickets/<int:ticket_id>/resolve")
@login_required("agent")
def resolve(ticket_id: int) -> ResponseReturnValue:
    owner = None if _is_admin() else _me()
    ticket = handoff_store().transition(ticket_id, "resolve", _me(), owner=owner)
    _wake_relay()
    return jsonify(ticket.to_dict())


def _field(name: str) -> str | None:
    """A text field of the JSON or form body: "" when absent, None when it is not text."""
    data = request.get_json(silent=True) if request.is_json else None
    value = (data or {}).get(name) if isinstance(data, dict) else request.form.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else None


def _text() -> str:
    return _field("text") or ""


@bp.post("/tickets/<int:ticket_id>/reply")
@login_required("agent")
def reply(ticket_id: int) -> ResponseReturnValue:
    """Queue a reply: ``{"text", "via"?: "chat" | "email"}`` (without ``via``: the ticket's default way).

    409 when that way cannot reach the customer (nothing is stored then)."""
    raw = _field("via")
    via = raw.strip() if raw else None
    if raw is None or (via is not None and via not in replies.VIA):
        return jsonify(error=f"via is {' or '.join(replies.VIA)}"), 400
    message = handoff_store().add_agent_message(ticket_id, _me(), _text(), via)
    _typing_throttle().allow(ticket_id, False)  # the reply ends "typing": the next keystroke may say so again
    _wake_relay()
    item = _ticket_or_404(ticket_id)
    return jsonify(message_views(item, [message])[0]), 201


@bp.post("/tickets/<int:ticket_id>/messages/<int:message_id>/retry")
@login_required("agent")
def retry_email(ticket_id: int, message_id: int) -> ResponseReturnValue:
    """Send a dead email reply again (its attempts start over); 409 when it is not dead."""
    item = _ticket_or_404(ticket_id)
    messages = [m for m in handoff_store().messages(ticket_id) if m.id == message_id and m.role == "agent"]
    if not messages:
        abort(404)
    if handoff_store().mail is None:
        raise Undeliverable("no SMTP server is configured (FAQBOT_SMTP_HOST), so faqbot cannot send email")
    if not delivery.retry_email(handoff_store(), message_id):
        raise TransitionError("only a dead email can be sent again")
    _wake_relay()
    return jsonify(message_views(item, messages)[0])


class TypingThrottle:
    """At most one "an agent is typing" signal per ticket per interval, in this process (the desk also
    throttles on its side); a stop always passes."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()

    def allow(self, ticket_id: int, typing: bool, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            if not typing:
                return self._last.pop(ticket_id, None) is not None
            if now - self._last.get(ticket_id, -self.interval) < self.interval:
                return False
            self._last[ticket_id] = now
            return True


def _typing_throttle() -> TypingThrottle:
    throttle = current_app.extensions.get("faqbot_typing")
    if throttle is None:
        # Half the desk's pace: a desk that keeps the interval is never refused for clock jitter; a faster
        # client (or several tabs) is.
        throttle = current_app.extensions["faqbot_typing"] = TypingThrottle(settings().agent_typing_interval / 2)
    return throttle  # type: ignore[no-any-return]


@bp.post("/tickets/<int:ticket_id>/typing")
@login_required("agent")
def typing(ticket_id: int) -> ResponseReturnValue:
    """``{"typing": true|false}``: show (or stop showing) "an agent is typing" in the customer's widget.

    Only the agent who owns the conversation, only for a chat in the website widget; 409 otherwise.
    Answers ``{"sent": bool}`` (false: throttled, see ``Settings.agent_typing_interval``); 503 when Rasa
    cannot be reached (the reply itself is not affected)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("typing"), bool):
        return jsonify(error='send {"typing": true or false}'), 400
    item = _ticket_or_404(ticket_id)
    if item.status != "with_agent" or item.agent != _me():
        raise TransitionError(f"{item.number} is not with you: claim it first")
    if item.channel != "socketio" or not replies.chat_reachable(item):
        raise Undeliverable(f"{item.number}: only the website chat shows that you are typing")
    if not _typing_throttle().allow(ticket_id, data["typing"]):
        return jsonify(sent=False)
    interval = settings().agent_typing_interval
    try:
        services().rasa().typing(item.conversation_id, data["typing"], seconds=2 * interval)
    except RasaUnavailable as exc:
        logger.warning("desk: could not tell %s that an agent is typing: %s", item.number, exc)
        return jsonify(error=f"the customer's chat could not be told you are typing: {exc}"), 503
    return jsonify(sent=True)


@bp.post("/tickets/<int:ticket_id>/note")
@login_required("agent")
def note(ticket_id: int) -> ResponseReturnValue:
    _ticket_or_404(ticket_id)
    return jsonify(handoff_store().add_note(ticket_id, _me(), _text()).to_dict()), 201


@bp.get("/kb-search")
@login_required("agent")
def kb_search() -> ResponseReturnValue:
    """FAQs matching ``q`` in ``lang``, with their answers, for inserting into a reply."""
    query = (request.args.get("q") or "").strip()[:500]
    if not query:
        return jsonify(results=[])
    try:
        answer = services().faq.ask(query, request.args.get("lang") or settings().default_language, k=5)
    except FaqbotError as exc:
        return jsonify(error=str(exc)), 503
    results = []
    for candidate in answer.decision.candidates:
        entry = answer.entries.get(f"{candidate.lang}:{candidate.faq_id}")  # the version that ranked it
        results.append(
            {"id": candidate.faq_id, "lang": candidate.lang, "question": candidate.question,
             "score": round(candidate.score, 3), "answer": entry.answer if entry else ""}
        )  # fmt: skip
    return jsonify(results=results, kb_version=answer.kb_version)


def _resolved(ticket_id: int) -> HandoffTicket:
    item = _ticket_or_404(ticket_id)
    if item.status != "resolved":
        raise TransitionError(f"{item.number} is {item.status}: only resolved tickets feed the knowledge base")
    return item


@bp.post("/tickets/<int:ticket_id>/draft-faq")
@login_required("agent")
def draft_faq(ticket_id: int) -> ResponseReturnValue:
    """Turn the agent's answer into a draft FAQ in knowledge_base/drafts/<lang>/."""
    item = _resolved(ticket_id)
    data = request.get_json(silent=True) or {}
    question = str(data.get("question") or item.question)
    answer = str(data.get("answer") or "")
    if not answer:
        replies = [m for m in handoff_store().messages(ticket_id) if m.role == "agent"]
        answer = "\n\n".join(m.text for m in replies)
    question, answer = mask_payment_data(question), mask_payment_data(answer)
    path = write_draft(settings().drafts_dir, item.language, question, answer, item.number)
    return jsonify(path=str(path.relative_to(settings().kb_dir.parent))), 201


@bp.post("/tickets/<int:ticket_id>/add-alternate")
@login_required("agent")
def alternate(ticket_id: int) -> ResponseReturnValue:
    """Add the customer's question as an alternate phrasing of an existing FAQ."""
    item = _resolved(ticket_id)
    data = request.get_json(silent=True) or {}
    faq_id = str(data.get("faq_id") or "").strip()
    if not faq_id:
        raise KnowledgeBaseError("choose the FAQ the question belongs to")
    question = mask_payment_data(str(data.get("question") or item.question))
    path = add_alternate(settings().kb_dir, item.language, faq_id, question)
    return jsonify(path=str(path.relative_to(settings().kb_dir.parent)), faq_id=faq_id), 201
