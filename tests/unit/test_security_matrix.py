"""Who may use which route, generated from the web app's own URL map.

Every route of every blueprint is tried as an anonymous visitor, with a
wrong and the right API token, and signed in as each role; a route the
policy below does not know fails the test, so a new screen cannot ship
without a decision about who may use it. Every state-changing route must
refuse a signed-in request without the session's CSRF token, and every body
larger than the limit is refused with 413 before a view reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from bot.settings import Settings
from bot.storage.accounts import UserStore
from bot.web import create_app

PASSWORD = "correct horse battery"
ROLES = ("agent", "editor", "admin")
API_TOKEN = "matrix-api-token"

#: Who may use each blueprint's routes ("public": anybody; "token": the JSON API's bearer token;
#: "user-token": an API token of a desk user, never a signed-in browser (roles: tests/unit/test_api_v1.py);
#: a role: signed-in users of that role, and admins; "agent|editor": either). Per-endpoint entries override
#: their blueprint's.
POLICY = {
    "shop": "public",
    "health": "public",
    "static": "public",
    "auth": "public",
    "widget_api": "public",
    "old_agent_page": "public",
    "favicon": "public",
    "api": "token",
    "api_v1": "user-token",
    "api_v1.openapi": "public",
    "desk": "agent",
    "editor": "editor",
    "dashboard": "admin",
    "canned": "agent|editor",  # agents insert canned replies, editors keep them
    "canned.save": "editor",
}

#: Example values for URL parameters, by name.
VALUES = {"conversation_id": "conv-1", "table": "faqs", "filename": "widget.js"}  # other parameters: 1


def policy(rule: Rule) -> str:
    endpoint = rule.endpoint
    who = POLICY.get(endpoint) or POLICY.get(endpoint.split(".", 1)[0])
    assert who is not None, f"route {rule.rule} ({endpoint}) is in no access policy: add it to POLICY"
    return who


def url(rule: Rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: VALUES.get(m.group(1), "1"), rule.rule)


def routes(app: Flask) -> Iterator[tuple[Rule, str]]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


@pytest.fixture
def app(settings: Settings) -> Flask:
    settings = settings.replace(rasa_port=1, action_port=1, secret_key="matrix-secret", api_token=API_TOKEN)
    users = UserStore(settings.database_path)
    for role in ROLES:
        users.add(role, PASSWORD, role=role)
    return create_app(settings=settings, test_config={"TESTING": True})


def signed_in(app: Flask, username: str) -> tuple[FlaskClient, str]:
    """A client signed in as ``username`` and its session's CSRF token."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, f"{username} cannot sign in"
    landing = client.get(response.headers["Location"]).get_data(as_text=True)  # the user's own screen
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', landing).group(1)  # type: ignore[union-attr]
    return client, csrf


def call(client: FlaskClient, method: str, path: str, **options) -> int:  # noqa: ANN003
    """The status of one request, without reading a streamed body (the desk's event streams)."""
    response = client.open(path, method=method, buffered=False, **options)
    status = response.status_code
    response.close()
    return status


def test_every_route_is_in_the_policy(app: Flask) -> None:
    for rule, _ in routes(app):
        policy(rule)


def test_anonymous_visitors_reach_only_public_routes(app: Flask) -> None:
    client = app.test_client()
    for rule, method in routes(app):
        who = policy(rule)
        status = call(client, method, url(rule))
        if who == "public":
            continue
        if who in ("token", "user-token"):
            assert status == 401, (rule.rule, method, status)
        elif method == "GET":
            assert status in (302, 401), (rule.rule, method, status)  # to the login page, or 401 for JSON
        else:
            assert status in (400, 401, 302), (rule.rule, method, status)  # never carried out


def test_the_api_wants_its_token(app: Flask) -> None:
    client = app.test_client()
    for rule, method in routes(app):
        if policy(rule) != "token":
            continue
        path = url(rule)
        assert call(client, method, path, headers={"Authorization": "Bearer wrong"}) == 401, rule.rule
        assert call(client, method, path, headers={"Authorization": f"Bearer {API_TOKEN}x"}) == 401, rule.rule
        assert call(client, method, path, headers={"Authorization": f"Bearer {API_TOKEN}"}) not in (401, 403)
        # a signed-in desk user is not the API
        admin, _ = signed_in(app, "admin")
        assert call(admin, method, path) == 401, rule.rule


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_its_own_routes_and_no_others(app: Flask, role: str) -> None:
    client, csrf = signed_in(app, role)
    for rule, method in routes(app):
        who = policy(rule)
        if who in ("public", "token") or rule.endpoint == "auth.logout":
            continue
        status = call(client, method, url(rule), headers={"X-CSRF-Token": csrf})
        if who == "user-token":  # a signed-in browser is not the API, whatever its role
            assert status == 401, (role, rule.rule, method, status)
            continue
        allowed = role in who.split("|") or role == "admin"
        if allowed:
            assert status not in (401, 403), (role, rule.rule, method, status)
        else:
            assert status == 403, (role, rule.rule, method, status)


@pytest.mark.parametrize("role", ROLES)
def test_every_state_changing_route_wants_the_csrf_token(app: Flask, role: str) -> None:
    client, csrf = signed_in(app, role)
    for rule, method in routes(app):
        who = policy(rule)
        if method == "GET" or who in ("token", "user-token") or rule.endpoint.startswith("widget_api."):
            continue  # the JSON API and the widget's public API take no cookies
        if who != "public" and role not in who.split("|") and role != "admin":
            continue
        for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": csrf[:-1]}):
            assert call(client, method, url(rule), headers=headers) == 400, (role, rule.rule, headers)


def test_a_signed_in_session_does_not_make_the_widget_api_trust_other_sites(app: Flask) -> None:
    client, _ = signed_in(app, "admin")
    for rule, method in routes(app):
        if not rule.endpoint.startswith("widget_api."):
            continue
        status = call(client, method, url(rule), json={}, headers={"Origin": "https://evil.example"})
        assert status == 403, rule.rule


def test_every_body_over_the_limit_is_refused_before_a_view_reads_it(app: Flask) -> None:
    client, csrf = signed_in(app, "admin")
    huge = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    for rule, method in routes(app):
        if method == "GET":
            continue
        headers = {"X-CSRF-Token": csrf, "Authorization": f"Bearer {API_TOKEN}"}
        for content_type in ("application/json", "application/x-www-form-urlencoded", "text/plain"):
            status = call(client, method, url(rule), data=huge, headers={**headers, "Content-Type": content_type})
            assert status == 413, (rule.rule, content_type, status)


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"{", "application/json"),
        (b"[1, 2", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b'{"text": {"nested": [1, {"x": null}]}, "email": ["a"], "message": 5}', "application/json"),
        (b"%%%=&&=%ZZ", "application/x-www-form-urlencoded"),
        (b"\x00" * 1000, "application/octet-stream"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx_never_a_500(app: Flask, body: bytes, content_type: str) -> None:
    client, csrf = signed_in(app, "admin")
    for rule, method in routes(app):
        if method == "GET":
            continue
        headers = {"X-CSRF-Token": csrf, "Authorization": f"Bearer {API_TOKEN}", "Content-Type": content_type}
        status = call(client, method, url(rule), data=body, headers=headers)
        assert status < 500, (rule.rule, body[:20], status)
