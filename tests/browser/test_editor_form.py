"""The editor's form per FAQ in headless Chromium: alternates added and removed, tags, the answer previewed by
the chat widget's own renderer (raw HTML as typed, a javascript: link dead), the checks naming the line, and a
save that changes only the lines edited (an untouched form saves the file byte for byte).

The web app runs alone here (werkzeug, a copy of the demo KB in git): the form needs no Rasa.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from bot.services import Services
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.accounts import UserStore
from bot.web import create_app
from tests.browser.conftest import ARTIFACTS
from tests.conftest import HashingEmbedder

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PASSWORD = "editor form password"
FAQ = "returns-refund-time"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    root = tmp_path_factory.mktemp("editor-form")
    kb = root / "knowledge_base"
    shutil.copytree(PROJECT_ROOT / "knowledge_base", kb)
    _git(kb, "init", "-q")
    _git(kb, "add", ".")
    _git(kb, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "demo KB")
    settings = Settings(
        kb_dir=kb, var_dir=root / "var", languages=("en", "ar", "ru"), secret_key="k", rasa_port=1, action_port=1
    )
    UserStore(settings.database_path).add("eve", PASSWORD, role="editor", display_name="Eve Editor")
    app = create_app(test_config={"TESTING": True}, services=Services(settings, HashingEmbedder()))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield settings, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def page(web, browser):
    settings, url = web
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/login")
    page.fill("input[name=username]", "eve")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#editor-index")
    yield page
    page.close()
    assert not errors, errors


def _open(page, web, relative: str):
    page.goto(f"{web[1]}/editor/edit?file={relative}")
    page.wait_for_selector("#faq-forms .faq-form")
    page.wait_for_selector("#problems li")


def test_an_untouched_form_saves_every_byte_as_it_was(web, page):
    settings, _ = web
    for relative in ("en/returns.md", "ar/returns.md", "ru/orders.md"):
        path = settings.kb_dir / relative
        before, head = path.read_bytes(), _git(settings.kb_dir, "rev-parse", "HEAD")
        _open(page, web, relative)
        page.click("#save")
        page.wait_for_selector("#save-status:has-text('no change')")
        assert path.read_bytes() == before and _git(settings.kb_dir, "rev-parse", "HEAD") == head
        if relative.startswith("ar/"):
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "editor-form-ar.png"), full_page=False)


def test_the_form_edits_one_faq_previews_it_as_customers_see_it_and_saves_only_those_lines(web, page):
    settings, _ = web
    path = settings.kb_dir / "en" / "returns.md"
    original = path.read_text(encoding="utf-8")
    _open(page, web, "en/returns.md")
    card = page.locator(f".faq-form[data-faq={FAQ}]")
    alternates = card.locator("[name=alternate]")
    count = alternates.count()
    assert count >= 2

    # Alternates as a list: add one, remove the first.
    first = alternates.nth(0).input_value()
    card.locator(".add-alternate").click()
    card.locator("[name=alternate]").nth(count).fill("how many days until my refund")
    card.locator(".remove-alternate").nth(0).click()

    # The answer with raw HTML and a javascript: link: the preview shows them as the widget would.
    answer = card.locator("[name=answer]")
    old_answer = answer.input_value()
    answer.fill(old_answer + "\n\n<b>Note</b>: **within 5 days**, see [the portal](javascript:alert(1)).")
    preview = card.locator(".answer-preview")
    preview.locator("strong", has_text="within 5 days").wait_for()
    assert "<b>Note</b>" in preview.inner_text()  # raw HTML is shown as typed, not interpreted
    assert preview.locator("b").count() == 0
    dead = preview.locator("a", has_text="the portal")
    assert dead.count() == 1 and dead.get_attribute("href") is None  # DOMPurify dropped the javascript: URL
    page.wait_for_selector("#problems li.error:has-text('unsafe')")
    problems = page.locator("#problems").inner_text()
    assert "raw HTML '<b>'" in problems and f"'{FAQ}'" in problems
    # The file preview in the aside renders the same way.
    aside = page.locator(f"#preview article[data-faq={FAQ}] .answer")
    aside.locator("strong", has_text="within 5 days").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "editor-form.png"), full_page=False)
    page.locator("#problems").screenshot(path=str(ARTIFACTS / "editor-form-checks.png"))

    # An unsafe link is an error: nothing is saved.
    page.click("#save")
    page.wait_for_selector("#save-status:has-text('nothing was saved')")
    assert path.read_text(encoding="utf-8") == original

    answer.fill(old_answer + "\n\nTip: **within 5 days** on [the portal](https://larkspur.example/returns).")
    card.locator("[name=tags]").fill("returns, refunds, money")
    page.wait_for_selector("#problems li.ok")
    page.click("#save")
    page.wait_for_selector("#save-status:has-text('Saved as')")
    saved = path.read_text(encoding="utf-8")
    removed = [line[2:] for line in difflib.ndiff(original.split("\n"), saved.split("\n")) if line.startswith("- ")]
    added = [line[2:] for line in difflib.ndiff(original.split("\n"), saved.split("\n")) if line.startswith("+ ")]
    assert [line.strip() for line in removed if "alternate" not in line and "tags" not in line] == [f"- {first}"]
    assert "  - how many days until my refund" in added
    assert any(line.startswith("tags: [returns, refunds, money]") for line in added)
    assert "Tip: **within 5 days** on [the portal](https://larkspur.example/returns)." in added
    assert "Eve Editor" in _git(settings.kb_dir, "log", "-1", "--format=%an")

    # The raw view shows the same text, and stays editable.
    page.click("#tab-raw")
    assert page.locator("#source").input_value() == saved
    page.click("#tab-form")
    page.wait_for_selector(f".faq-form[data-faq={FAQ}] [name=alternate]")
    page.screenshot(path=str(ARTIFACTS / "editor-form-saved.png"), full_page=False)


def test_a_help_center_passage_is_edited_in_the_form_and_the_raw_view(web, page):
    settings, _ = web
    relative = "en/articles/wood-care.md"
    path = settings.kb_dir / relative
    original = path.read_text(encoding="utf-8")
    for untouched in ("ar/articles/assembly.md", relative):  # an untouched passage file saves byte for byte
        head = _git(settings.kb_dir, "rev-parse", "HEAD")
        _open(page, web, untouched)
        page.click("#save")
        page.wait_for_selector("#save-status:has-text('no change')")
        assert _git(settings.kb_dir, "rev-parse", "HEAD") == head
    card = page.locator(".faq-form[data-faq=wood-care-oiling-and-waxing]")
    # A passage: its heading, the article it cites (its own URL), no alternates.
    assert card.locator(".question-label").inner_text() == "Section heading"
    assert card.locator("[name=question]").input_value() == "Oiling and waxing"
    assert card.locator(".alternates-box").is_hidden()
    link = card.locator(".article-source a.article-link")
    assert link.inner_text() == "Caring for solid wood furniture"
    assert link.get_attribute("href") == "https://larkspur.example/help/wood-care"
    heading = page.locator("#preview article[data-faq=wood-care-oiling-and-waxing] h3")
    assert heading.inner_text() == "Caring for solid wood furniture — Oiling and waxing"
    answer = card.locator("[name=answer]")
    answer.fill(answer.input_value() + "\n\nTip: test the oil on the **underside** first.")
    card.locator(".answer-preview strong", has_text="underside").wait_for()
    page.wait_for_selector("#problems li.ok")
    card.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "editor-form-passage.png"), full_page=False)
    page.click("#save")
    page.wait_for_selector("#save-status:has-text('Saved as')")
    saved = path.read_text(encoding="utf-8")
    added = [line[2:] for line in difflib.ndiff(original.split("\n"), saved.split("\n")) if line.startswith("+ ")]
    assert sorted(added) == ["", "Tip: test the oil on the **underside** first."]  # one paragraph added
    # The raw view: the same text, with kind and article as the import wrote them.
    page.click("#tab-raw")
    assert page.locator("#source").input_value() == saved
    assert "kind: passage\narticle:\n  title: Caring for solid wood furniture" in saved
