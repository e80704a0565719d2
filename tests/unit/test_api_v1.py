"""The versioned HTTP API (/api/v1): tokens and roles, FAQs through the editor's workflow, tickets through the
desk's, and the OpenAPI description checked against the real Flask routes and the real responses."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.kb.loader import load_knowledge_base
from bot.services import Services
from bot.settings import Settings
from bot.storage.accounts import UserStore
from bot.storage.tokens import ApiTokenStore, token_hash
from bot.web import create_app
from tests.conftest import HashingEmbedder

PASSWORD = "api test password"
SPEC_METHODS = ("get", "post", "put", "patch", "delete")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def app(settings: Settings):
    kb = settings.kb_dir
    _git(kb, "init", "-q")
    _git(kb, "add", ".")
    _git(kb, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "initial KB")
    settings = settings.replace(rasa_port=1, action_port=1, secret_key="k")
    users = UserStore(settings.database_path)
    for name, role in (("eve", "editor"), ("ann", "agent"), ("bob", "agent"), ("root", "admin")):
        users.add(name, PASSWORD, role=role, display_name=name.title())
    return create_app(test_config={"TESTING": True}, services=Services(settings, HashingEmbedder()))


@pytest.fixture
def tokens(app) -> dict[str, str]:
    store = ApiTokenStore(app.config["FAQBOT_SETTINGS"].database_path)
    return {name: store.create(name, f"{name}-sync")[1] for name in ("eve", "ann", "bob", "root")}


class Api:
    """A client that sends a token and checks every response against the OpenAPI description."""

    def __init__(self, app, token: str | None, spec: dict[str, Any]) -> None:
        self.client, self.token, self.spec = app.test_client(), token, spec

    def call(self, method: str, path: str, **kwargs: Any):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.client.open(f"/api/v1{path}", method=method.upper(), headers=headers, **kwargs)
        validate_response(self.spec, method, path, response)
        return response


def _operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    bare = path.split("?", 1)[0]
    for template, item in spec["paths"].items():
        pattern = "^" + "/".join("[^/]+" if part.startswith("{") else re.escape(part) for part in template.split("/"))
        if re.match(pattern + "$", bare) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError(f"{method.upper()} {bare} is not in the OpenAPI description")


def validate_response(spec: dict[str, Any], method: str, path: str, response) -> None:
    """The response's status is documented for the operation, and its JSON body matches that schema."""
    operation = _operation(spec, method, path)
    documented = operation["responses"].get(str(response.status_code))
    assert documented, f"{method.upper()} {path}: status {response.status_code} is not documented"
    if "$ref" in documented:
        documented = spec["components"]["responses"][documented["$ref"].rsplit("/", 1)[1]]
    schema = documented["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator({**schema, "components": spec["components"]})
    errors = [e.message for e in validator.iter_errors(response.get_json())]
    assert not errors, f"{method.upper()} {path} -> {response.status_code}: {errors[:3]}"


@pytest.fixture
def spec(app) -> dict[str, Any]:
    response = app.test_client().get("/api/v1/openapi.json")  # no token needed
    assert response.status_code == 200
    document = response.get_json()
    jsonschema.Draft202012Validator.check_schema({"components": document["components"]})
    assert document["openapi"].startswith("3.")
    return document


def test_the_description_lists_exactly_the_routes_and_methods_flask_serves(app, spec):
    served: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule[len("/api/v1") :])
            served.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    documented = {path: {m for m in item if m in SPEC_METHODS} for path, item in spec["paths"].items()}
    assert served == documented
    for path, item in spec["paths"].items():
        names = set(re.findall(r"{([a-z_]+)}", path))
        for method in documented[path]:
            params = [*item.get("parameters", []), *item[method].get("parameters", [])]
            resolved = [
                spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in params
            ]
            assert {p["name"] for p in resolved if p["in"] == "path"} == names, f"{method} {path}"


def test_tokens_are_hashed_at_rest_and_act_with_their_users_role(app, spec, tokens):
    settings = app.config["FAQBOT_SETTINGS"]
    raw = (settings.database_path).read_bytes()
    assert all(t.startswith("fbt_") and t.encode() not in raw for t in tokens.values())
    store = ApiTokenStore(settings.database_path)
    assert store.db.query("SELECT 1 FROM api_tokens WHERE token_hash = ?", (token_hash(tokens["eve"]),))

    assert Api(app, None, spec).call("get", "/faqs").status_code == 401
    assert Api(app, "fbt_not-a-token", spec).call("get", "/faqs").status_code == 401
    assert Api(app, tokens["eve"], spec).call("get", "/faqs").status_code == 200
    assert Api(app, tokens["root"], spec).call("get", "/tickets").status_code == 200
    refused = Api(app, tokens["ann"], spec).call("get", "/faqs")  # an agent may not edit the KB
    assert refused.status_code == 403 and "needs editor" in refused.get_json()["error"]
    assert Api(app, tokens["eve"], spec).call("get", "/tickets").status_code == 403

    revoked = store.tokens()[0]
    assert revoked.username == "eve" and store.revoke(revoked.id) and not store.revoke(revoked.id)
    assert Api(app, tokens["eve"], spec).call("get", "/faqs").status_code == 401
    UserStore(settings.database_path).set_disabled("root", True)
    assert Api(app, tokens["root"], spec).call("get", "/tickets").status_code == 401
    assert store.tokens()[1].last_used_at is not None


def test_faqs_list_get_create_update_delete_through_the_editors_workflow(app, spec, tokens):
    settings = app.config["FAQBOT_SETTINGS"]
    api = Api(app, tokens["eve"], spec)
    listed = api.call("get", "/faqs?lang=en").get_json()
    assert [f["id"] for f in listed["faqs"]] == sorted(f["id"] for f in listed["faqs"]) and listed["kb_version"]
    assert {f["lang"] for f in listed["faqs"]} == {"en"}
    assert [f["id"] for f in api.call("get", "/faqs?lang=en&q=paypal").get_json()["faqs"]] == ["payments-methods"]
    faq = api.call("get", "/faqs/en/order-tracking").get_json()
    assert faq["file"] == "en/faq.md" and faq["question"] == "How do I track my order?"
    assert api.call("get", "/faqs/en/nope").status_code == 404
    assert api.call("get", "/faqs/xx/order-tracking").status_code == 404

    new = {"id": "gift-cards", "lang": "en", "question": "Do you sell gift cards?", "answer": "Yes, **online**."}
    created = api.call("post", "/faqs", json={**new, "tags": ["payments"], "file": "cards.md"})
    assert created.status_code == 201 and created.get_json()["commit"]
    assert (settings.kb_dir / "en" / "cards.md").read_text(encoding="utf-8").startswith("## Do you sell gift cards?")
    assert "Eve (API: eve-sync)|KB: add en:gift-cards (API)" in _git(settings.kb_dir, "log", "-1", "--format=%an|%s")
    assert api.call("post", "/faqs", json=new).status_code == 409  # exists already
    assert api.call("post", "/faqs", json={**new, "id": "order-tracking", "lang": "ru"}).status_code == 409
    unsafe = api.call("post", "/faqs", json={**new, "id": "bad", "answer": "[x](javascript:alert(1))"})
    assert unsafe.status_code == 422 and unsafe.get_json()["problems"][0]["check"] == "unsafe-link"
    assert api.call("post", "/faqs", json={**new, "id": "x", "file": "../../evil.md"}).status_code == 400
    assert api.call("post", "/faqs", json={**new, "id": "Not A Slug"}).status_code == 400
    assert api.call("post", "/faqs", data="not json", content_type="application/json").status_code == 400

    before = (settings.kb_dir / "en" / "faq.md").read_text(encoding="utf-8")
    base = api.call("get", "/faqs/en/order-tracking").get_json()["base"]
    alternates = [*faq["alternates"], "where's my stuff"]
    updated = api.call("patch", "/faqs/en/order-tracking", json={"alternates": alternates, "base": base})
    assert updated.status_code == 200 and updated.get_json()["alternates"] == alternates
    after = (settings.kb_dir / "en" / "faq.md").read_text(encoding="utf-8")
    assert after.replace("  - where's my stuff\n", "", 1) == before  # one line added, nothing else touched
    stale = api.call("patch", "/faqs/en/order-tracking", json={"tags": ["orders"], "base": base})
    assert stale.status_code == 409 and (settings.kb_dir / "en" / "faq.md").read_text(encoding="utf-8") == after
    assert api.call("patch", "/faqs/en/order-tracking", json={"colour": "red"}).status_code == 400
    assert api.call("patch", "/faqs/en/order-tracking", json={"answer": "a\n## b"}).status_code == 400
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    assert "where's my stuff" in kb.get("order-tracking", "en").alternates and not kb.errors

    deleted = api.call("delete", "/faqs/en/gift-cards")  # the file's last FAQ: the file goes too
    assert deleted.status_code == 200 and deleted.get_json()["commit"]
    assert not (settings.kb_dir / "en" / "cards.md").exists()
    assert "cards.md" not in _git(settings.kb_dir, "ls-files")
    assert api.call("delete", "/faqs/en/gift-cards").status_code == 404
    assert api.call("delete", "/faqs/en/returns-how").status_code == 200
    assert load_knowledge_base(settings.kb_dir, settings.languages).get("returns-how", "en") is None


def test_two_writers_racing_on_one_file_both_land(app, spec, tokens):
    settings = app.config["FAQBOT_SETTINGS"]
    results: list[int] = []

    def add(n: int) -> None:
        body = {"id": f"race-{n}", "lang": "en", "question": f"Race {n}?", "answer": f"Answer {n}.", "file": "faq.md"}
        results.append(Api(app, tokens["eve"], spec).call("post", "/faqs", json=body).status_code)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [201] * 6
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    assert {f"race-{n}" for n in range(6)} <= {e.id for e in kb.entries} and not kb.errors


def test_import_is_all_or_nothing_and_committed(app, spec, tokens):
    settings = app.config["FAQBOT_SETTINGS"]
    api = Api(app, tokens["eve"], spec)
    rows = [
        {"id": "order-tracking", "lang": "en", "tags": ["orders"]},
        {"id": "store-hours", "lang": "en", "question": "When are you open?", "answer": "9 to 5."},
    ]
    dry = api.call("post", "/faqs/import", json={"faqs": rows, "dry_run": True}).get_json()
    assert dry == {
        "added": ["en:store-hours"],
        "changed": ["en:order-tracking"],
        "unchanged": [],
        "files": ["en/faq.md", "en/imported.md"],
        "commits": [],
        "dry_run": True,
    }
    assert not (settings.kb_dir / "en" / "imported.md").exists()
    bad = api.call("post", "/faqs/import", json={"faqs": [*rows, {"id": "Bad Id", "lang": "en"}]})
    assert bad.status_code == 422 and bad.get_json()["rows"][0]["row"] == 3
    assert not (settings.kb_dir / "en" / "imported.md").exists()
    done = api.call("post", "/faqs/import", json={"faqs": rows})
    assert done.status_code == 200 and len(done.get_json()["commits"]) == 2
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    assert kb.get("order-tracking", "en").tags == ("orders",) and kb.get("store-hours", "en")
    assert api.call("post", "/faqs/import", json={"faqs": "nope"}).status_code == 400


def _ticket(app) -> HandoffTicket:
    return HandoffStore(app.config["FAQBOT_SETTINGS"].database_path).create(
        HandoffTicket(
            conversation_id="conv-api",
            channel="socketio",
            language="en",
            customer={"customer_name": "Fatima"},
            question="Where is my order?",
            candidates=[],
            reason="low_confidence",
            transcript=[{"role": "customer", "text": "Where is my order?", "timestamp": 1700000000.0}],
        )
    )


def test_tickets_list_get_claim_reply_resolve_as_the_desk_does(app, spec, tokens):
    ticket = _ticket(app)
    ann, bob = Api(app, tokens["ann"], spec), Api(app, tokens["bob"], spec)
    listed = ann.call("get", "/tickets?status=waiting").get_json()["tickets"]
    assert [t["number"] for t in listed] == [ticket.number]
    assert ann.call("get", "/tickets?status=nope").status_code == 400
    assert ann.call("get", "/tickets?limit=0").status_code == 400
    assert ann.call("get", "/tickets/999").status_code == 404
    assert ann.call("post", f"/tickets/{ticket.id}/reply", json={"text": "hi"}).status_code == 409  # not claimed
    assert ann.call("post", f"/tickets/{ticket.id}/claim").get_json()["agent"] == "ann"
    assert bob.call("post", f"/tickets/{ticket.id}/claim").status_code == 409
    assert bob.call("post", f"/tickets/{ticket.id}/reply", json={"text": "me too"}).status_code == 409
    assert ann.call("post", f"/tickets/{ticket.id}/reply", json={"text": "  "}).status_code == 400
    assert ann.call("post", f"/tickets/{ticket.id}/reply", json={"text": "x", "via": "fax"}).status_code == 400
    reply = ann.call("post", f"/tickets/{ticket.id}/reply", json={"text": "It ships today."})
    assert reply.status_code == 201 and reply.get_json()["role"] == "agent"
    full = ann.call("get", f"/tickets/{ticket.id}").get_json()
    assert [m["text"] for m in full["messages"]] == ["It ships today."]
    assert bob.call("post", f"/tickets/{ticket.id}/resolve").status_code == 409  # not bob's
    resolved = ann.call("post", f"/tickets/{ticket.id}/resolve")
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"
    store = HandoffStore(app.config["FAQBOT_SETTINGS"].database_path)
    assert [c.kind for c in store.due_commands()] == ["deliver", "resume_resolved"]


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[1, 2",
        b"\xff\xfe\x00garbage",
        b'{"text": {"x": [1]}, "alternates": [1], "faqs": [1], "answer": 5}',
        b"[]",
    ],
)
def test_malformed_bodies_get_a_documented_4xx_never_a_500(app, spec, tokens, body):
    ticket = _ticket(app)
    api = Api(app, tokens["root"], spec)
    api.call("post", f"/tickets/{ticket.id}/claim")
    for method, path in (
        ("post", "/faqs"),
        ("patch", "/faqs/en/order-tracking"),
        ("post", "/faqs/import"),
        ("post", f"/tickets/{ticket.id}/reply"),
    ):
        response = api.call(method, path, data=body, content_type="application/json")
        assert 400 <= response.status_code < 500, (method, path, body)
