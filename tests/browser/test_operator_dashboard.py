"""The operator's dashboard in headless Chromium over the running bot's real conversations (screenshot artifacts)."""

from __future__ import annotations

import uuid

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PIZZA = "Can you recommend a good pizza recipe?"


def test_dashboard_shows_the_running_bots_numbers_and_the_conversations_behind_them(bot_servers, browser):
    bot = bot_servers
    ARTIFACTS.mkdir(exist_ok=True)
    # Letters around the hex: an id of digits alone would be masked as a phone number.
    senders = {question: f"dash{uuid.uuid4().hex[:8]}x" for question in ("how do I reset my password?", PIZZA)}
    for question, sender in senders.items():
        bot.say(sender, question)
    bot.add_user("olga", "operator browser password", role="admin", name="Olga")
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(bot.web_url + "/admin/dashboard?since=1d")
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "operator browser password")
    page.click("button[type=submit]")
    page.wait_for_selector("#numbers")
    conversations = int(page.locator("[data-metric=conversations]").inner_text())
    assert conversations >= 2
    assert page.locator("svg").count() >= 1  # the chart of rates per day
    assert "%" in page.locator("[data-metric=containment_rate]").inner_text()
    assert page.locator("[data-metric=unanswered_clusters]").inner_text().split()[0].isdigit()  # content gaps
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # The operator clicks the number of conversations: the list holds exactly that many (the period is pinned).
    page.click("[data-metric=conversations] a")
    page.wait_for_selector("table.conversations")
    assert int(page.locator("#total").get_attribute("data-rows") or -1) == conversations
    assert page.locator("table.conversations tbody tr[data-conversation]").count() == conversations
    row = page.locator(f"tr[data-conversation='{senders[PIZZA]}']")
    assert "rest" in row.inner_text()  # the channel the test spoke on
    page.screenshot(path=str(ARTIFACTS / "dashboard-conversations.png"), full_page=True)

    # ... and opens the transcript of the pizza question: the customer's words, then the bot's offer of a person.
    row.locator("a.transcript-link").click()
    page.wait_for_selector("ol.transcript")
    said = page.locator("ol.transcript li")
    assert said.first.get_attribute("data-speaker") == "customer" and PIZZA in said.first.inner_text()
    assert said.nth(1).get_attribute("data-speaker") == "bot"
    assert "band handoff" in page.locator("ol.transcript").inner_text()
    page.screenshot(path=str(ARTIFACTS / "dashboard-drilldown.png"), full_page=True)
