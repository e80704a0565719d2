"""The widget's ES modules as the web app serves them: to any origin (module scripts are fetched with CORS,
also from a host site's page), as JavaScript, and only they get that header."""

from __future__ import annotations

import re

import pytest

from bot.settings import PROJECT_ROOT, Settings
from bot.web import create_app

FOLDER = PROJECT_ROOT / "bot" / "web" / "static" / "widget"
MODULES = sorted(p.name for p in FOLDER.glob("*.js"))
#: An origin that is not the web app's and not in FAQBOT_WIDGET_ORIGINS.
STRANGER = "https://somewhere-else.example"
#: What Python's mimetypes calls a .js file, depending on the machine's /etc/mime.types.
JAVASCRIPT = {"text/javascript", "application/javascript"}


@pytest.fixture
def client(settings: Settings):
    return create_app(settings=settings, test_config={"TESTING": True}).test_client()


def test_every_module_is_served_to_any_origin_as_javascript(client):
    assert "main.js" in MODULES and len(MODULES) > 5
    for name in MODULES:
        response = client.get(f"/static/widget/{name}", headers={"Origin": STRANGER})
        assert response.status_code == 200, name
        assert response.headers["Access-Control-Allow-Origin"] == "*", name
        # A module served as anything but JavaScript is refused by the browser (and nosniff is set).
        assert response.mimetype in JAVASCRIPT, name
        assert response.headers["Cache-Control"] == "no-cache", name  # revalidated: never mixed with older files


def test_only_the_modules_are_open_to_other_origins(client):
    others = ("/static/widget.js", "/static/widget.css", "/static/desk.js", "/static/vendor/purify.min.js", "/")
    # other files named through the modules' folder
    dodges = ("/static/widget/../desk.js", "/static/widget/%2e%2e/desk.js", "/static/widget//../editor.js")
    for path in others + dodges:
        response = client.get(path, headers={"Origin": STRANGER})
        assert response.status_code == 200, path
        assert "Access-Control-Allow-Origin" not in response.headers, path
    # the widget API still answers only the origins it knows
    refused = client.post("/widget/api/feedback", json={}, headers={"Origin": STRANGER})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers


def test_main_imports_every_module_and_only_modules_that_exist():
    imports = {
        name: re.findall(r'^import .* from "\./([\w-]+\.js)";$', (FOLDER / name).read_text(), re.MULTILINE)
        for name in MODULES
    }
    reached, todo = set(), ["main.js"]
    while todo:
        name = todo.pop()
        if name not in reached:
            assert name in imports, f"an import names {name}, which is not in {FOLDER}"
            reached.add(name)
            todo.extend(imports[name])
    assert reached == set(MODULES), f"files main.js never imports: {set(MODULES) - reached}"


def test_widget_js_preloads_every_module():
    """widget.js lists the modules to preload them at once; a module missing from the list still loads,
    only later (one import level at a time), so the list is checked here."""
    loader = (FOLDER.parent / "widget.js").read_text()
    (listed,) = re.findall(r"const MODULES = \[([^\]]*)\];", loader)
    assert sorted(f"{name}.js" for name in re.findall(r'"([\w-]+)"', listed)) == MODULES
