"""Canned replies on the web: agents read them (the desk inserts them), editors and admins edit them.

The replies are files beside the FAQs (``knowledge_base/canned/<lang>.yml``,
``bot.kb.canned``), read afresh on each request, so an edit made in a file
or on this screen is offered at the next page load. A save is checked first
(nothing invalid is written: 422 with the problems, each with its line),
refused with 409 when the file changed since the editor opened it (the check
and the write hold a lock shared by every web process), written atomically,
and committed in the editor's name when the knowledge base is
in git, like an FAQ edit.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from flask import Blueprint, abort, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from bot.editing.history import commit_file, content_hash, write_file
from bot.errors import KnowledgeBaseError
from bot.kb.canned import MAX_FILE_BYTES, canned_path, check_canned_text, load_canned
from bot.web.auth import current_user, login_required
from bot.web.common import settings

bp = Blueprint("canned", __name__, url_prefix="/canned")


@bp.errorhandler(KnowledgeBaseError)
def failed(exc: KnowledgeBaseError) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 503


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """One save at a time across every web process: the check of ``base`` and the write are one step."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _source(lang: str) -> str:
    path = canned_path(settings().kb_dir, lang)
    try:
        return path.read_text(encoding="utf-8") if path.is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeBaseError(f"cannot read {path.name}: {exc}") from exc


@bp.get("/")
@login_required("agent", "editor")
def index() -> str:
    """Every language's replies; for editors and admins, each file in an edit box."""
    s = settings()
    user = current_user()
    assert user is not None
    canned = load_canned(s.kb_dir, s.languages)
    editable = user.can("editor")
    files = {lang: _source(lang) for lang in s.languages} if editable else {}
    return render_template(
        "canned.html",
        canned=canned,
        languages=s.languages,
        files=files,
        bases={lang: content_hash(text) for lang, text in files.items()},
        editable=editable,
    )


@bp.get("/<lang>.json")
@login_required("agent", "editor")
def replies_json(lang: str) -> ResponseReturnValue:
    """The valid replies of ``lang`` (404 for a language that is not configured)."""
    s = settings()
    if lang not in s.languages:
        abort(404)
    canned = load_canned(s.kb_dir, (lang,))
    return jsonify(
        replies=[r.to_dict() for r in canned.for_language(lang)], problems=[p.to_dict() for p in canned.problems]
    )


@bp.post("/<lang>")
@login_required("editor")
def save(lang: str) -> ResponseReturnValue:
    """Replace the canned replies of ``lang``: ``{"text", "base"}`` (``base``: the hash the editor started from)."""
    s = settings()
    if lang not in s.languages:
        abort(404)
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return jsonify(error='send {"text": the file, "base": its hash when opened}'), 400
    text = data["text"].replace("\r\n", "\n")
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        return jsonify(error=f"the file is larger than {MAX_FILE_BYTES // 1024} KB: nothing was saved"), 413
    problems = check_canned_text(s.kb_dir, lang, text, s.languages)
    if problems:
        return jsonify(error="the file has errors: nothing was saved", problems=[p.to_dict() for p in problems]), 422
    path = canned_path(s.kb_dir, lang)
    if text and not text.endswith("\n"):
        text += "\n"
    user = current_user()
    assert user is not None
    with _locked(s.var_dir / "canned.lock"):
        if str(data.get("base") or "") != content_hash(_source(lang)):
            return jsonify(error="someone changed this file since you opened it: reload and redo your edit"), 409
        write_file(path, text)
        message = f"KB: edit canned replies {lang} (web)"
        commit = commit_file(path, message, user.display_name, f"{user.username}@faqbot")
    count = len(load_canned(s.kb_dir, (lang,)).for_language(lang))
    return jsonify(saved=f"{lang}.yml", base=content_hash(text), commit=commit, replies=count)
