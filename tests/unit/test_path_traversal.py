"""Every route that takes a file name refuses to read or write outside the knowledge base (or static/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.settings import Settings
from bot.storage.accounts import UserStore
from bot.web import create_app

PASSWORD = "correct horse battery"
SECRET = "TOP SECRET: not part of the knowledge base"

#: What an attacker tries as a file name; {outside} is a markdown file next to the KB, {secret} its name.
PAYLOADS = [
    "../{secret}",
    "en/../../{secret}",
    "{outside}",
    "..%2f{secret}",
    "en/..\\..\\{secret}",
    "en/link.md",  # a symlink inside the KB that points outside
    "drafts/en/../../../{secret}",
    "en/faq.md\x00.txt",
    "/etc/passwd",
    "../../../../../../etc/passwd",
    "en/.hidden.md",
    "en/faq.py",
]


@pytest.fixture
def setup(settings: Settings, tmp_path: Path) -> tuple[Flask, Path]:
    outside = tmp_path / "secret.md"
    outside.write_text(SECRET, encoding="utf-8")
    (settings.kb_dir / "en" / "link.md").symlink_to(outside)
    (settings.kb_dir / "en" / ".hidden.md").write_text(SECRET, encoding="utf-8")
    settings = settings.replace(rasa_port=1, action_port=1, secret_key="traversal-secret", kb_reload=False)
    UserStore(settings.database_path).add("ed", PASSWORD, role="admin")
    return create_app(settings=settings, test_config={"TESTING": True}), outside


def signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": "ed", "password": PASSWORD, "csrf_token": token.group(1)})  # type: ignore[union-attr]
    landing = client.get(response.headers["Location"]).get_data(as_text=True)
    client.environ_base["HTTP_X_CSRF_TOKEN"] = re.search(r'name="csrf-token" content="([^"]+)"', landing).group(1)  # type: ignore[union-attr]
    return client


def payloads(outside: Path) -> list[str]:
    return [p.format(secret=outside.name, outside=outside) for p in PAYLOADS]


def test_editor_routes_never_read_or_write_outside_the_kb(setup: tuple[Flask, Path]) -> None:
    app, outside = setup
    client = signed_in(app)
    for name in payloads(outside):
        for method, path, body in (
            ("GET", f"/editor/edit?file={name}", None),
            ("GET", f"/editor/history?file={name}", None),
            ("POST", "/editor/preview", {"file": name, "text": "## Q?\nA."}),
            ("POST", "/editor/save", {"file": name, "text": "## Q?\n```yaml\nid: q\n```\nA.", "base": ""}),
            ("POST", "/editor/rollback", {"file": name, "commit": "0123456789abcdef"}),
            ("POST", "/editor/publish", {"file": name}),
        ):
            response = client.open(path, method=method, json=body)
            assert 400 <= response.status_code < 500, (method, path, name, response.status_code)
            assert SECRET not in response.get_data(as_text=True), (method, path, name)
    assert outside.read_text(encoding="utf-8") == SECRET
    assert not list(outside.parent.glob("*.md.*")) and sorted(p.name for p in outside.parent.glob("*.md")) == [
        "secret.md"
    ]


def test_static_files_stay_in_static(setup: tuple[Flask, Path]) -> None:
    app, outside = setup
    client = app.test_client()
    for name in [*payloads(outside), "../__init__.py", "..%2f__init__.py", "%2e%2e/__init__.py"]:
        response = client.get(f"/static/{name}", follow_redirects=True)  # "//etc" is first redirected to "/etc"
        assert response.status_code == 404, (name, response.status_code)
        assert SECRET not in response.get_data(as_text=True)
    assert client.get("/static/widget.js").status_code == 200


def test_desk_and_inbox_routes_take_no_path_from_the_request(setup: tuple[Flask, Path]) -> None:
    """Languages and FAQ ids that would make a path are refused; drafts land inside drafts/<lang>/."""
    app, outside = setup
    client = signed_in(app)
    kb_dir = app.config["FAQBOT_SETTINGS"].kb_dir
    for lang in ("../..", "../en", "en/../..", "/tmp"):
        assert client.post("/editor/inbox/draft", json={"lang": lang, "question": "x"}).status_code == 400
        response = client.post("/editor/inbox/alternate", json={"lang": lang, "faq_id": "returns-how", "question": "x"})
        assert response.status_code == 400
    response = client.post("/editor/inbox/draft", json={"lang": "en", "question": "../../../../etc/evil"})
    assert response.status_code == 201
    written = (kb_dir / response.get_json()["file"]).resolve()
    assert (kb_dir / "drafts" / "en").resolve() in written.parents
    response = client.post("/editor/inbox/alternate", json={"lang": "en", "faq_id": "../../x", "question": "q"})
    assert 400 <= response.status_code < 500
