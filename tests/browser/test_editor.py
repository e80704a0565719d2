"""The knowledge editor in headless Chromium, against the running bot: an edit goes live without a restart."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

QUESTION = "How long do refunds take?"
OLD = "gift card are refunded to the gift card."


def _answer(bot, sender: str) -> str:
    return "\n\n".join(r.get("text", "") for r in bot.say(sender, QUESTION))


def test_editor_edits_checks_saves_and_the_bot_answers_with_the_edit(bot_servers, browser):
    bot = bot_servers
    ARTIFACTS.mkdir(exist_ok=True)
    path = bot.settings.kb_dir / "en" / "returns.md"
    original = path.read_text(encoding="utf-8")
    assert OLD in _answer(bot, f"ed-{uuid.uuid4().hex[:8]}")
    bot.add_user("eve", "editor browser password", role="editor", name="Eve")
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        page.goto(bot.web_url + "/editor/")
        page.fill("input[name=username]", "eve")
        page.fill("input[name=password]", "editor browser password")
        page.click("button[type=submit]")
        page.wait_for_selector("#editor-index")

        # "Try a question" shows what the live bot would do.
        page.fill("#try-q", "when do I get my money back")
        page.click("#try-form button")
        page.wait_for_selector("#try-result [data-band]")
        assert page.locator("#try-result li").first.get_attribute("data-faq") == "returns-refund-time"

        page.click("a[href*='file=en/returns.md']")
        page.wait_for_selector("#editor-edit")
        page.wait_for_selector("#preview article[data-faq=returns-refund-time]")
        marker = f"Tip {uuid.uuid4().hex[:6]}: track it under *My returns*."
        edited = original.replace(OLD, f"{OLD}\n\n{marker}")

        # A broken edit in the raw markdown view: the checks say where, and saving is refused.
        page.click("#tab-raw")
        page.fill("#source", edited.replace("id: returns-refund-time", "id: Returns Refund"))
        page.wait_for_selector("#problems li.error")
        assert "Returns Refund" in page.locator("#problems").inner_text()
        page.click("#save")
        page.wait_for_selector("#save-status:has-text('nothing was saved')")
        assert path.read_text(encoding="utf-8") == original

        # A good edit: the preview renders the markdown, the save goes live without a restart.
        page.fill("#source", edited)
        page.wait_for_selector("#problems li.ok")
        preview = page.locator("#preview article[data-faq=returns-refund-time] .answer")
        preview.locator("em", has_text="My returns").wait_for()
        page.click("#save")
        page.wait_for_selector("#save-status:has-text('Saved')")
        saved = time.monotonic()
        page.screenshot(path=str(ARTIFACTS / "editor.png"), full_page=True)
        deadline = saved + 30
        while marker.split(":")[0] not in _answer(bot, f"ed-{uuid.uuid4().hex[:8]}"):
            assert time.monotonic() < deadline, "the edit did not go live"
            time.sleep(0.2)
    finally:
        path.write_text(original, encoding="utf-8")  # leave the shared bot's KB as it was
        deadline = time.monotonic() + 30
        while OLD not in _answer(bot, f"ed-{uuid.uuid4().hex[:8]}") and time.monotonic() < deadline:
            time.sleep(0.2)
