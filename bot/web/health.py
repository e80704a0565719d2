"""``/healthz``: is each part of the bot up, and which KB version is live.

200 only when the status is ``ok``; 503 whenever it is not (a part is down,
or the KB's last edit was rejected and the previous version still serves),
so monitors notice. The JSON body says which part is wrong either way.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from bot.kb.watch import read_status
from bot.retrieval.index import current_version
from bot.web.common import settings

bp = Blueprint("health", __name__)


def probe(url: str, timeout: float) -> dict[str, object]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return {"ok": 200 <= response.status < 300, "url": url, "status": response.status}
    except urllib.error.HTTPError as exc:
        return {"ok": False, "url": url, "status": exc.code}
    except (urllib.error.URLError, OSError) as exc:
        return {"ok": False, "url": url, "error": str(getattr(exc, "reason", exc))}


def kb_status() -> dict[str, object]:
    index_dir = settings().index_dir
    version = current_version(index_dir)
    if version is None:
        return {"ok": False, "error": "no index built: run 'faqbot kb build'"}
    try:
        manifest = json.loads((index_dir / version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"ok": False, "version": version, "error": f"unreadable manifest: {exc}"}
    entries: dict[str, int] = {}
    for key in manifest.get("entries", {}):
        lang = key.split(":", 1)[0]
        entries[lang] = entries.get(lang, 0) + 1
    result: dict[str, object] = {
        "ok": True,
        "version": version,
        "model": manifest.get("model"),
        "entries": dict(sorted(entries.items())),
    }
    reload = read_status(settings())
    if reload is not None:
        result["reload"] = reload
    return result


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    s = settings()
    timeout = min(s.http_timeout, 2.0)
    report = {
        "rasa": probe(f"{s.rasa_url}/", timeout),
        "action_server": probe(f"{s.action_server_url}/health", timeout),
        "kb": kb_status(),
    }
    ok = all(part["ok"] for part in report.values())
    # A rejected edit leaves the previous KB serving: still up, but say so.
    reload = report["kb"].get("reload")
    rejected = isinstance(reload, dict) and not reload.get("ok", True)
    status = "ok" if ok and not rejected else "degraded"
    return jsonify(status=status, **report), 200 if status == "ok" else 503
