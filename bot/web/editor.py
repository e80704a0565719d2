"""The knowledge editor (editor role): FAQs with their use, edit with preview and checks, try, history.

Saving writes the markdown file atomically (one git commit per save, authored
by the editor, when the KB is in a git work tree); the hot reload of
bot/editing/watch.py makes it live within seconds. A file with errors is never
saved, so an edit cannot break the bot; a file changed on disk since the
editor opened it is not overwritten (409).
"""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from bot.analytics.conversations import TrackerReader
from bot.editing.drafts import add_alternate, write_draft
from bot.editing.faqs import append_faq, fields_of, remove_faq, update_faq
from bot.editing.history import commit_file, content_hash, history, in_git, safe_path, text_at, write_file
from bot.editing.saving import SaveRefused, file_problems, kb_lock, lang_of, save_text
from bot.editing.watch import read_status
from bot.errors import FaqbotError, KnowledgeBaseError
from bot.kb.loader import load_knowledge_base
from bot.kb.models import FaqEntry
from bot.kb.parser import parse_text
from bot.rasa.tracker import tracker_location
from bot.web.auth import current_user, login_required
from bot.web.common import services, settings

bp = Blueprint("editor", __name__, url_prefix="/editor")

HIT_WINDOW_DAYS = 30


def passage_of(entry: FaqEntry) -> dict[str, Any]:
    """What the form shows of a help-center passage (not editable there: a new import sets it)."""
    if not entry.is_passage:
        return {}
    return {
        "kind": entry.kind,
        "title": entry.title,
        "article": {"title": entry.article_title, "url": entry.article_url},
    }


@bp.errorhandler(KnowledgeBaseError)
def refused(exc: KnowledgeBaseError) -> ResponseReturnValue:
    if isinstance(exc, SaveRefused):
        return jsonify(error=str(exc), problems=[p.to_dict() for p in exc.problems]), exc.status
    return jsonify(error=str(exc)), 400


def _lang_of(relative: str) -> str:
    return lang_of(settings(), relative)


def _author() -> tuple[str, str]:
    user = current_user()
    assert user is not None
    return user.display_name, f"{user.username}@faqbot"


def hit_counts(days: int = HIT_WINDOW_DAYS) -> tuple[dict[tuple[str, str], int], str | None]:
    """How often each (lang, FAQ id) was the bot's answer in the last ``days`` days, from the tracker store."""
    try:
        reader = TrackerReader(tracker_location(settings()), settings().default_language)
        asked = reader.questions(since=time.time() - days * 86400)
    except FaqbotError as exc:
        return {}, str(exc)
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for question in asked:
        faq = question.faq_id if question.band == "answer" else getattr(question, "chosen_faq_id", None)
        if faq:
            counts[(question.lang, faq)] += 1
    return dict(counts), None


def _commit_as_editor(path: Path, message: str) -> str | None:
    return commit_file(path, message, *_author())


@bp.get("/")
@login_required("editor")
def index() -> str:
    s = settings()
    kb = load_knowledge_base(s.kb_dir, s.languages)
    hits, hits_error = hit_counts()
    query = (request.args.get("q") or "").strip().casefold()
    lang = request.args.get("lang") or ""
    rows: list[dict[str, Any]] = []
    for entry in kb.entries:
        if lang and entry.lang != lang:
            continue
        haystack = " ".join((entry.id, entry.question, *entry.alternates, entry.answer)).casefold()
        if query and query not in haystack:
            continue
        rows.append({"entry": entry, "hits": hits.get((entry.lang, entry.id), 0), "file": entry.path.split("/", 1)[-1]})
    rows.sort(key=lambda r: (-int(r["hits"]), r["entry"].lang, r["entry"].id))
    drafts = sorted(str(p.relative_to(s.kb_dir)) for p in s.drafts_dir.rglob("*.md")) if s.drafts_dir.is_dir() else []
    return render_template(
        "editor_index.html",
        rows=rows,
        drafts=drafts,
        problems=kb.problems,
        status=read_status(s),
        hits_error=hits_error,
        query=request.args.get("q") or "",
        lang=lang,
        languages=s.languages,
        user=current_user(),
        window=HIT_WINDOW_DAYS,
    )


@bp.get("/edit")
@login_required("editor")
def edit() -> str:
    relative = request.args.get("file") or ""
    path = safe_path(settings().kb_dir, relative)
    lang = _lang_of(relative)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return render_template(
        "editor_edit.html",
        file=relative,
        lang=lang,
        text=text,
        base=content_hash(text),
        versioned=in_git(path.parent),
        user=current_user(),
    )


@bp.post("/preview")
@login_required("editor")
def preview() -> ResponseReturnValue:
    """The file's FAQs as the form edits them, and every problem with its line. The page renders the answers
    with the widget's own renderer (bot/web/static/widget/render.js), so they look as customers see them."""
    data = request.get_json(silent=True) or {}
    relative, text = str(data.get("file") or ""), str(data.get("text") or "")
    safe_path(settings().kb_dir, relative)
    lang = _lang_of(relative)
    entries, _ = parse_text(text, lang, relative)
    problems, _ = file_problems(text, lang, relative)
    return jsonify(
        problems=[p.to_dict() for p in problems],
        entries=[{"id": e.id, "line": e.line, **fields_of(e), **passage_of(e)} for e in entries],
    )


@bp.post("/compose")
@login_required("editor")
def compose() -> ResponseReturnValue:
    """The file's text with the form's FAQs applied (``faqs``: ``{id, fields}``, ``new`` or ``delete``);
    only what changed is rewritten, so an unchanged form gives the text back byte for byte. Saves nothing."""
    data = request.get_json(silent=True) or {}
    relative, text = str(data.get("file") or ""), str(data.get("text") or "").replace("\r\n", "\n")
    safe_path(settings().kb_dir, relative)
    lang = _lang_of(relative)
    faqs = data.get("faqs")
    if not isinstance(faqs, list) or not all(isinstance(f, dict) for f in faqs):
        raise KnowledgeBaseError("faqs must be a list of {id, fields}")
    for faq in faqs:
        faq_id, fields = str(faq.get("id") or "").strip(), faq.get("fields") or {}
        if not isinstance(fields, dict):
            raise KnowledgeBaseError(f"the fields of {faq_id!r} must be an object")
        if faq.get("delete"):
            text = remove_faq(text, lang, relative, faq_id)
        elif faq.get("new"):
            text = append_faq(text, lang, relative, faq_id, fields)
        else:
            text = update_faq(text, lang, relative, faq_id, fields)
    problems, _ = file_problems(text, lang, relative)
    return jsonify(text=text, problems=[p.to_dict() for p in problems])


@bp.post("/save")
@login_required("editor")
def save() -> ResponseReturnValue:
    data = request.get_json(silent=True) or {}
    relative, text = str(data.get("file") or ""), str(data.get("text") or "")
    saved = save_text(
        settings(), relative, text, str(data.get("base") or ""), _author(), f"KB: edit {relative} (web editor)"
    )
    return jsonify(
        saved=saved.file, base=saved.base, commit=saved.commit, problems=[p.to_dict() for p in saved.problems]
    )


@bp.get("/try")
@login_required("editor")
def try_question() -> ResponseReturnValue:
    """What the live bot would do with a question: ranked FAQs with scores, and the band."""
    question = (request.args.get("q") or "").strip()[: settings().max_message_chars]
    if not question:
        return jsonify(error="type a question"), 400
    try:
        answer = services().faq.ask(question, request.args.get("lang") or settings().default_language)
    except FaqbotError as exc:
        return jsonify(error=str(exc)), 503
    t = answer.thresholds
    return jsonify(
        band=answer.decision.band,
        kb_version=answer.kb_version,
        lang=answer.lang,
        thresholds={"answer": t.answer, "clarify": t.clarify, "margin": t.margin},
        candidates=[
            {"id": c.faq_id, "question": c.question, "score": round(c.score, 3)} for c in answer.decision.candidates
        ],
        choices=[c.faq_id for c in answer.decision.choices],
    )


@bp.get("/history")
@login_required("editor")
def file_history() -> ResponseReturnValue:
    path = safe_path(settings().kb_dir, request.args.get("file") or "")
    return jsonify(revisions=[r.__dict__ for r in history(path)])


@bp.post("/rollback")
@login_required("editor")
def rollback() -> ResponseReturnValue:
    """Bring a file back to how it was at a commit (as a new commit, so nothing is lost)."""
    data = request.get_json(silent=True) or {}
    relative, commit = str(data.get("file") or ""), str(data.get("commit") or "")
    path = safe_path(settings().kb_dir, relative)
    old = text_at(path, commit)
    saved = save_text(settings(), relative, old, None, _author(), f"KB: roll back {relative} to {commit[:10]}")
    return jsonify(saved=relative, base=saved.base, commit=saved.commit, text=old)


@bp.get("/inbox")
@login_required("editor")
def inbox() -> str:
    from bot.analytics.unanswered import unanswered_clusters

    since = request.args.get("since") or "7d"
    try:
        clusters, error = (
            unanswered_clusters(settings(), since, embedder=services().embedder, service=services().faq),
            None,
        )
    except (FaqbotError, ValueError) as exc:
        clusters, error = [], str(exc)
    return render_template(
        "editor_inbox.html",
        clusters=[c for c in clusters if not c.junk],
        junk=[c for c in clusters if c.junk],
        error=error,
        since=since,
        user=current_user(),
    )


@bp.post("/inbox/alternate")
@login_required("editor")
def inbox_alternate() -> ResponseReturnValue:
    data = request.get_json(silent=True) or {}
    lang, faq_id, question = str(data.get("lang") or ""), str(data.get("faq_id") or ""), str(data.get("question") or "")
    if lang not in settings().languages:
        raise KnowledgeBaseError(f"unknown language {lang!r}")
    path = add_alternate(settings().kb_dir, lang, faq_id.strip(), question, settings().inbox_max_question_chars)
    _commit_as_editor(path, f"KB: add an alternate to {faq_id} from the inbox")
    return jsonify(file=str(path.relative_to(settings().kb_dir)), faq_id=faq_id), 201


@bp.post("/inbox/draft")
@login_required("editor")
def inbox_draft() -> ResponseReturnValue:
    data = request.get_json(silent=True) or {}
    lang, question = str(data.get("lang") or ""), str(data.get("question") or "")
    if lang not in settings().languages:
        raise KnowledgeBaseError(f"unknown language {lang!r}")
    answer = str(data.get("answer") or "").strip() or "(write the answer here)"
    path = write_draft(settings().drafts_dir, lang, question, answer, "the unanswered-questions inbox")
    return jsonify(file=str(path.relative_to(settings().kb_dir))), 201


@bp.post("/publish")
@login_required("editor")
def publish() -> ResponseReturnValue:
    """Move a reviewed draft into its language folder, if the KB with it still has no errors."""
    data = request.get_json(silent=True) or {}
    relative = str(data.get("file") or "")
    parts = Path(relative).parts
    if len(parts) != 3 or parts[0] != "drafts":
        raise KnowledgeBaseError(f"{relative!r} is not a draft")
    s = settings()
    source = safe_path(s.kb_dir, relative)
    target = safe_path(s.kb_dir, f"{parts[1]}/{parts[2]}")
    with kb_lock(s):  # as every other writer of the KB (bot/editing/saving.py)
        if target.exists():
            raise KnowledgeBaseError(f"{parts[1]}/{parts[2]} already exists: rename the draft first")
        text = source.read_text(encoding="utf-8")
        unsafe = [p for p in file_problems(text, parts[1], relative)[0] if p.severity == "error"]
        if unsafe:
            return jsonify(error="the draft has errors", problems=[p.to_dict() for p in unsafe]), 422
        write_file(target, text)
        kb = load_knowledge_base(s.kb_dir, s.languages)
        errors = [p for p in kb.errors if p.path.endswith(f"{parts[1]}/{parts[2]}") or "duplicate id" in p.message]
        if errors:
            target.unlink()
            return jsonify(error="the draft does not fit the KB yet", problems=[p.to_dict() for p in errors]), 422
        source.unlink()
        commit = _commit_as_editor(target, f"KB: publish {parts[1]}/{parts[2]}")
    return jsonify(saved=f"{parts[1]}/{parts[2]}", commit=commit), 201
