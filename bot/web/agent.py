"""The agent page: handed-off conversations with the context the bot collected.

Until the agent desk with logins (issue #4) lands, the page answers requests
from this machine only, or with the API token (``?token=``).
"""

from __future__ import annotations

import datetime

from flask import Blueprint, abort, render_template

from bot.errors import HandoffError
from bot.web.common import handoff_store, local_request, token_ok

bp = Blueprint("agent", __name__, url_prefix="/agent")


@bp.before_request
def restrict() -> None:
    if not (local_request() or token_ok()):
        abort(403)


@bp.app_template_filter("when")
def when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return datetime.datetime.fromtimestamp(float(timestamp)).strftime("%Y-%m-%d %H:%M:%S")


@bp.get("/")
def tickets() -> str:
    try:
        items, error = handoff_store().tickets(limit=200), None
    except HandoffError as exc:
        items, error = [], str(exc)
    return render_template("agent.html", tickets=items, error=error)


@bp.get("/tickets/<int:ticket_id>")
def ticket(ticket_id: int) -> str:
    item = handoff_store().get(ticket_id)
    if item is None:
        abort(404)
    return render_template("ticket.html", ticket=item)
