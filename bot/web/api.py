"""JSON API (token required)."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue

from bot.errors import HandoffError
from bot.storage.database import StorageError
from bot.web.common import handoff_store, settings, token_ok

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.before_request
def require_token() -> ResponseReturnValue | None:
    if not settings().api_token:
        return jsonify(error="the API is disabled: set FAQBOT_API_TOKEN"), 503
    if not token_ok():
        return jsonify(error="missing or wrong API token"), 401
    return None


@bp.errorhandler(HandoffError)
@bp.errorhandler(StorageError)
def store_unavailable(exc: HandoffError | StorageError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 503


@bp.get("/handoffs")
def list_handoffs() -> ResponseReturnValue:
    """Handoff tickets, newest first; ``?status=waiting`` filters, ``?limit=`` caps (max 1000)."""
    try:
        limit = min(max(int(request.args.get("limit", 200)), 1), 1000)
    except ValueError:
        return jsonify(error="limit must be an integer"), 400
    tickets = handoff_store().tickets(status=request.args.get("status") or None, limit=limit)
    return jsonify(handoffs=[t.to_dict() for t in tickets])


@bp.get("/handoffs/<int:ticket_id>")
def get_handoff(ticket_id: int) -> ResponseReturnValue:
    ticket = handoff_store().get(ticket_id)
    if ticket is None:
        abort(404)
    return jsonify(ticket.to_dict())


@bp.get("/conversations/<path:conversation_id>/handoff")
def conversation_handoff(conversation_id: str) -> ResponseReturnValue:
    """The conversation's latest ticket and its messages, for integrations whose channel cannot push
    (Rasa's REST channel): poll this for agent replies (``?after=<message id>``)."""
    store = handoff_store()
    tickets = store.for_conversation(conversation_id)
    if not tickets:
        abort(404)
    try:
        after = int(request.args.get("after", 0))
    except ValueError:
        return jsonify(error="after must be an integer"), 400
    ticket = tickets[0]
    messages = [m.to_dict() for m in store.messages(int(ticket.id or 0), after) if m.role in ("customer", "agent")]
    return jsonify(ticket=ticket.to_dict(), messages=messages)
