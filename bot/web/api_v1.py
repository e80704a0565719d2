"""The versioned HTTP API (``/api/v1``): the knowledge base's FAQs and the handoff tickets, for a CMS or a helpdesk.

Described by bot/web/openapi.yaml (served at ``/api/v1/openapi.json``; docs/api.md), which a test checks
against these routes. Every request but the description carries an API token (bot/storage/tokens.py) and
acts as the token's desk user, with that user's role: FAQs need editor, tickets need agent (admins may do
both). FAQ writes go through the editor's workflow (bot/editing/saving.py: checks, the edit lock, one git
commit per file in the user's name, live within seconds by the hot reload); ticket writes through the
desk's (the handoff store's transitions and replies, then the relay and outbox are woken).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from bot.editing.faqs import append_faq, checked_changes, fields_of, remove_faq, update_faq
from bot.editing.history import commit_file, content_hash
from bot.editing.markup import answer_safety
from bot.editing.saving import SaveRefused, edit_file, kb_lock
from bot.errors import HandoffError, KnowledgeBaseError
from bot.handoff import replies
from bot.handoff.models import STATUSES
from bot.handoff.replies import Undeliverable
from bot.handoff.store import TransitionError
from bot.kb.interchange import Row
from bot.kb.loader import load_knowledge_base
from bot.kb.models import FaqEntry, KnowledgeBase
from bot.kb.writer import DEFAULT_NEW_FILE, apply_plan, plan_import
from bot.storage.accounts import User
from bot.storage.database import StorageError
from bot.web.common import handoff_store, services, settings

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

SPEC_PATH = Path(__file__).with_name("openapi.yaml")
#: Tickets listed at most per request.
MAX_TICKETS = 1000
F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def openapi_spec() -> dict[str, Any]:
    """The API's OpenAPI description (read once per process)."""
    spec: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


class ApiError(Exception):
    """A refused request: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@bp.errorhandler(ApiError)
def api_error(exc: ApiError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), exc.status


@bp.errorhandler(KnowledgeBaseError)
def kb_refused(exc: KnowledgeBaseError) -> ResponseReturnValue:
    if isinstance(exc, SaveRefused):
        return jsonify(error=str(exc), problems=[p.to_dict() for p in exc.problems]), exc.status
    return jsonify(error=str(exc)), 400


@bp.errorhandler(TransitionError)
@bp.errorhandler(Undeliverable)
def ticket_refused(exc: HandoffError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 409


@bp.errorhandler(HandoffError)
@bp.errorhandler(StorageError)
def store_unavailable(exc: HandoffError | StorageError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 503


@bp.errorhandler(404)
@bp.errorhandler(405)
def http_error(exc: Any) -> ResponseReturnValue:
    return jsonify(error=str(exc.description)), exc.code


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 description of this API (no token needed)."""
    return jsonify(openapi_spec())


def requires(role: str) -> Callable[[F], F]:
    """The view needs a live API token whose user may act as ``role``: 401 without one, 403 for another role."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            secret = header[7:].strip() if header.lower().startswith("bearer ") else ""
            found = services().token_store.authenticate(secret) if secret else None
            if found is None:
                raise ApiError(401, "missing, unknown or revoked API token (Authorization: Bearer fbt_...)")
            user, token = found
            if not user.can(role):
                raise ApiError(403, f"the token's user {user.username!r} is {user.role}: this needs {role}")
            g.api_user, g.api_token = user, token
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def _user() -> User:
    user: User = g.api_user
    return user


def _author() -> tuple[str, str]:
    user = _user()
    return f"{user.display_name} (API: {g.api_token.name})", f"{user.username}@faqbot"


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


# ------------------------------------------------------------------ FAQs


def _relative(entry: FaqEntry) -> str:
    """An entry's file relative to the KB folder (its ``path`` starts with the folder's name)."""
    return entry.path.split("/", 1)[-1]


def _faq_view(entry: FaqEntry, kb_dir: Path, commit: str | None = None, with_commit: bool = False) -> dict[str, Any]:
    relative = _relative(entry)
    path = kb_dir / relative
    view: dict[str, Any] = {
        "id": entry.id,
        "lang": entry.lang,
        **fields_of(entry),
        "updated": entry.updated,
        "file": relative,
        "line": entry.line,
        "base": content_hash(path.read_text(encoding="utf-8")) if path.exists() else "",
    }
    if with_commit:
        view["commit"] = commit
    return view


def _kb() -> KnowledgeBase:
    s = settings()
    return load_knowledge_base(s.kb_dir, s.languages)


def _lang(lang: str) -> str:
    if lang not in settings().languages:
        raise ApiError(404, f"there is no language {lang!r} ({', '.join(settings().languages)})")
    return lang


def _entry(lang: str, faq_id: str) -> FaqEntry:
    entry = _kb().get(faq_id, _lang(lang))
    if entry is None:
        raise ApiError(404, f"there is no FAQ {lang}:{faq_id}")
    return entry


def _written(lang: str, faq_id: str, commit: str | None, status: int = 200) -> ResponseReturnValue:
    entry = _entry(lang, faq_id)
    return jsonify(_faq_view(entry, settings().kb_dir, commit, with_commit=True)), status


@bp.get("/faqs")
@requires("editor")
def list_faqs() -> ResponseReturnValue:
    kb = _kb()
    lang = request.args.get("lang") or ""
    if lang:
        _lang(lang)
    query = (request.args.get("q") or "").strip().casefold()
    faqs = []
    for entry in sorted(kb.entries, key=lambda e: (e.lang, e.id)):
        haystack = " ".join((entry.id, entry.question, *entry.alternates, entry.answer)).casefold()
        if (not lang or entry.lang == lang) and (not query or query in haystack):
            faqs.append(_faq_view(entry, kb.root))
    return jsonify(faqs=faqs, kb_version=kb.content_hash)


@bp.post("/faqs")
@requires("editor")
def create_faq() -> ResponseReturnValue:
    data = _body()
    faq_id, lang = str(data.get("id") or "").strip(), str(data.get("lang") or "")
    if lang not in settings().languages:
        raise ApiError(400, f"lang {lang!r} is not one of {', '.join(settings().languages)}")
    file_name = str(data.get("file") or DEFAULT_NEW_FILE)
    if "/" in file_name or "\\" in file_name or not file_name.endswith(".md"):
        raise ApiError(400, f"file {file_name!r} must be a plain file name ending in .md")
    if _kb().get(faq_id, lang) is not None:
        raise ApiError(409, f"the FAQ {lang}:{faq_id} exists already: update it with PATCH")
    fields = {k: v for k, v in data.items() if k not in ("id", "lang", "file")}
    relative = f"{lang}/{file_name}"
    saved = edit_file(
        settings(),
        relative,
        lambda text: append_faq(text, lang, relative, faq_id, fields),
        _author(),
        f"KB: add {lang}:{faq_id} (API)",
    )
    return _written(lang, faq_id, saved.commit, 201)


@bp.get("/faqs/<lang>/<faq_id>")
@requires("editor")
def get_faq(lang: str, faq_id: str) -> ResponseReturnValue:
    return jsonify(_faq_view(_entry(lang, faq_id), settings().kb_dir))


@bp.patch("/faqs/<lang>/<faq_id>")
@requires("editor")
def update(lang: str, faq_id: str) -> ResponseReturnValue:
    data = _body()
    base = data.pop("base", None)
    relative = _relative(_entry(lang, faq_id))
    changes = checked_changes(data)  # a wrong field or type: 400 before anything is read under the lock
    saved = edit_file(
        settings(),
        relative,
        lambda text: update_faq(text, lang, relative, faq_id, changes),
        _author(),
        f"KB: edit {lang}:{faq_id} (API)",
        base=str(base) if base is not None else None,
        create=False,
    )
    return _written(lang, faq_id, saved.commit)


@bp.delete("/faqs/<lang>/<faq_id>")
@requires("editor")
def delete_faq(lang: str, faq_id: str) -> ResponseReturnValue:
    relative = _relative(_entry(lang, faq_id))
    saved = edit_file(
        settings(),
        relative,
        lambda text: remove_faq(text, lang, relative, faq_id),
        _author(),
        f"KB: delete {lang}:{faq_id} (API)",
        create=False,
        remove_when_empty=True,
    )
    return jsonify(deleted=f"{lang}:{faq_id}", file=relative, commit=saved.commit)


@bp.post("/faqs/import")
@requires("editor")
def import_faqs() -> ResponseReturnValue:
    data = _body()
    rows = data.get("faqs")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ApiError(400, "faqs must be a list of objects (the columns of 'faqbot kb export')")
    s = settings()
    file_name = str(data.get("file") or DEFAULT_NEW_FILE)
    with kb_lock(s):
        plan = plan_import([Row(n, dict(r)) for n, r in enumerate(rows, start=1)], s.kb_dir, s.languages, file_name)
        if not plan.ok:
            errors = [{"row": e.number, "message": e.message} for e in plan.errors]
            return jsonify(error=f"nothing imported: {len(errors)} rows with errors", rows=errors), 422
        unsafe = [p for p in answer_safety([*plan.added, *plan.changed]) if p.severity == "error"]
        if unsafe:
            problems = [p.to_dict() for p in unsafe]
            return jsonify(error="nothing imported: unsafe links in answers", problems=problems), 422
        commits: list[str] = []
        if not data.get("dry_run"):
            user_name, email = _author()
            for path in apply_plan(plan):
                commit = commit_file(path, f"KB: import into {path.relative_to(s.kb_dir)} (API)", user_name, email)
                if commit:
                    commits.append(commit)
    return jsonify(
        added=[e.key for e in plan.added],
        changed=[e.key for e in plan.changed],
        unchanged=[e.key for e in plan.unchanged],
        files=[str(p.relative_to(s.kb_dir)) for p in plan.files],
        commits=commits,
        dry_run=bool(data.get("dry_run")),
    )


# ------------------------------------------------------------------ tickets


def _wake_relay() -> None:
    """Run the relay and the outbox now: a reply or a resolve has just queued something (as the desk does)."""
    for name in ("faqbot_relay", "faqbot_outbox"):
        worker = current_app.extensions.get(name)
        if worker is not None:
            worker.wake()


@bp.get("/tickets")
@requires("agent")
def list_tickets() -> ResponseReturnValue:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"status is one of {', '.join(STATUSES)}")
    try:
        limit = int(request.args.get("limit", 200))
    except ValueError:
        raise ApiError(400, "limit must be an integer") from None
    if not 1 <= limit <= MAX_TICKETS:
        raise ApiError(400, f"limit is 1 to {MAX_TICKETS}")
    return jsonify(tickets=[t.to_dict() for t in handoff_store().tickets(status=status, limit=limit)])


@bp.get("/tickets/<int:ticket_id>")
@requires("agent")
def get_ticket(ticket_id: int) -> ResponseReturnValue:
    store = handoff_store()
    ticket = store.get(ticket_id)
    if ticket is None:
        raise ApiError(404, f"there is no ticket {ticket_id}")
    return jsonify(ticket.to_dict() | {"messages": [m.to_dict() for m in store.messages(ticket_id)]})


def _owner() -> str | None:
    """Whose ticket a release or resolve must be: the user's own, unless an admin."""
    return None if _user().role == "admin" else _user().username


@bp.post("/tickets/<int:ticket_id>/claim")
@requires("agent")
def claim_ticket(ticket_id: int) -> ResponseReturnValue:
    _ticket_exists(ticket_id)
    return jsonify(handoff_store().transition(ticket_id, "claim", _user().username).to_dict())


@bp.post("/tickets/<int:ticket_id>/reply")
@requires("agent")
def reply_to_ticket(ticket_id: int) -> ResponseReturnValue:
    data = _body()
    text, via = data.get("text"), data.get("via")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "text must be a non-empty string")
    if via is not None and via not in replies.VIA:
        raise ApiError(400, f"via is {' or '.join(replies.VIA)}")
    _ticket_exists(ticket_id)
    message = handoff_store().add_agent_message(ticket_id, _user().username, text, via)
    _wake_relay()
    return jsonify(message.to_dict()), 201


@bp.post("/tickets/<int:ticket_id>/resolve")
@requires("agent")
def resolve_ticket(ticket_id: int) -> ResponseReturnValue:
    _ticket_exists(ticket_id)
    ticket = handoff_store().transition(ticket_id, "resolve", _user().username, owner=_owner())
    _wake_relay()
    return jsonify(ticket.to_dict())


def _ticket_exists(ticket_id: int) -> None:
    if handoff_store().get(ticket_id) is None:
        raise ApiError(404, f"there is no ticket {ticket_id}")
