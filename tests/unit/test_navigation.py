"""One navigation on every page of the web app: the screens the signed-in user's role opens, and sign-out."""

from __future__ import annotations

import re

import pytest

from tests.unit.test_desk import _login, _ticket, app  # noqa: F401  (the fixture)

#: What each role's navigation links to, in order.
LINKS = {
    "ann": ["desk.queue", "canned.index"],
    "eve": ["editor.index", "editor.inbox", "canned.index"],
    "root": ["desk.queue", "editor.index", "editor.inbox", "canned.index", "dashboard.index"],
}
#: Pages each role may open, and which link is marked as the current page there.
PAGES = {
    "ann": {"/desk/": "desk.queue", "/desk/tickets/{ticket}": "desk.queue", "/canned/": "canned.index"},
    "eve": {"/editor/": "editor.index", "/editor/inbox": "editor.inbox", "/canned/": "canned.index",
            "/editor/edit?file=en/faq.md": "editor.index"},
    "root": {"/desk/": "desk.queue", "/editor/": "editor.index", "/editor/inbox": "editor.inbox",
             "/canned/": "canned.index", "/admin/dashboard": "dashboard.index",
             "/admin/conversations?metric=conversations": "dashboard.index"},
}  # fmt: skip


def nav_of(page: str) -> tuple[list[str], list[str], bool]:
    """The navigation's links, the one(s) marked current, and whether it has a sign-out button."""
    header = page.split("</header>", 1)[0]
    links = re.findall(r'<a href="[^"]+" data-nav="([\w.]+)"', header)
    current = re.findall(r'data-nav="([\w.]+)" aria-current="page"', header)
    return links, current, 'id="sign-out"' in header and 'action="/logout"' in header


@pytest.mark.parametrize("username", sorted(LINKS))
def test_every_page_has_the_roles_navigation_and_sign_out(app, username: str):  # noqa: F811
    ticket = _ticket(app)
    client, response = _login(app, username)
    assert response.status_code == 302
    for path, current in PAGES[username].items():
        response = client.get(path.format(ticket=ticket.id))
        assert response.status_code == 200, path
        links, marked, sign_out = nav_of(response.get_data(as_text=True))
        assert links == LINKS[username], (path, links)
        assert marked == [current], (path, marked)
        assert sign_out, path


def test_the_sign_in_and_shop_pages_have_no_staff_navigation(app):  # noqa: F811
    client = app.test_client()
    assert nav_of(client.get("/login").get_data(as_text=True)) == ([], [], False)
    signed_in, _ = _login(app, "root")
    shop = signed_in.get("/").get_data(as_text=True)
    assert nav_of(shop)[0] == [] and "?lang=ar" in shop  # the shop keeps its own language links


def test_signing_out_from_the_navigation_ends_the_session(app):  # noqa: F811
    client, _ = _login(app, "eve")
    page = client.get("/canned/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.split("</header>", 1)[0])
    assert token
    response = client.post("/logout", data={"csrf_token": token.group(1)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert client.get("/canned/").status_code == 302


def test_an_error_page_about_the_database_renders_without_navigation(app, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    from bot.storage.accounts import UserStore
    from bot.storage.database import StorageError

    client, _ = _login(app, "root")

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise StorageError("database is locked")

    monkeypatch.setattr(UserStore, "session", broken)  # the user store fails: who is signed in is unknown
    response = client.get("/editor/")
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "unavailable: database is locked" in page
    assert nav_of(page) == ([], [], False)
