"""The operator's dashboard in headless Chromium over the running bot's real conversations (screenshot artifact)."""

from __future__ import annotations

import uuid

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_dashboard_shows_the_running_bots_numbers(bot_servers, browser):
    bot = bot_servers
    ARTIFACTS.mkdir(exist_ok=True)
    for question in ("how do I reset my password?", "Can you recommend a good pizza recipe?"):
        bot.say(f"dash-{uuid.uuid4().hex[:8]}", question)
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
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
