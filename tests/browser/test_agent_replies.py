"""Markup from people, end to end in headless Chromium against the real bot.

A name with a markdown link is refused by the handoff form, and nothing of it
is echoed as a link. An agent's reply with HTML in it is shown to the customer
as typed (not as an empty bubble), and the desk warns the agent before it goes.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BOT_TEXTS = "[...document.querySelectorAll('[data-testid=faqbot-msg-bot]')].map(e => e.innerText)"
MARKDOWN_NAME = "[click me](javascript:window.__clicked=1)"
REPLY = "Please send <your order number> and mark it <b>urgent</b>."


def say(page, text: str, expect: str) -> list[str]:
    """Send ``text`` from the widget; the bot's new messages once one of them matches ``expect`` (a regex)."""
    count = page.get_by_test_id("faqbot-msg-bot").count()
    page.get_by_test_id("faqbot-input").fill(text)
    page.get_by_test_id("faqbot-send").click()
    page.wait_for_function(f"{BOT_TEXTS}.slice({count}).some(t => new RegExp({expect!r}, 'i').test(t))", timeout=30_000)
    return list(page.evaluate(BOT_TEXTS))[count:]


def test_a_markdown_name_is_refused_and_an_agents_html_is_shown_as_typed_after_a_warning(bot_servers, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    dialogs: list[str] = []
    customer = browser.new_page(viewport={"width": 1200, "height": 800})
    customer.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    customer.goto(bot_servers.web_url + "/")
    customer.get_by_test_id("faqbot-launcher").click()

    # The handoff form: a name with a link in it is refused, then a real name is taken.
    texts = say(customer, "I want to talk to a human", r"name")
    texts = say(customer, MARKDOWN_NAME, r"just your name")
    assert customer.locator("[data-testid=faqbot-msg-bot] a").count() == 0
    texts = say(customer, "Ada Lovelace", r"email")
    texts = say(customer, "ada@example.com", r"T-\d{6}|order")
    if not any(re.search(r"T-\d{6}", t) for t in texts):  # an order question: the form asks for its number
        texts = say(customer, "LK-123456", r"T-\d{6}")
    number = re.search(r"T-\d{6}", " ".join(texts)).group(0)
    ticket = bot_servers.store().by_number(number)
    assert ticket.customer["customer_name"] == "Ada Lovelace"
    shown = customer.evaluate(BOT_TEXTS)
    assert not any("click me" in text for text in shown) and any("Ada Lovelace" in text for text in shown)

    # The agent types HTML: the desk warns, and sends only when asked twice.
    bot_servers.add_user("hal", "browser test password", name="Hal")
    agent = browser.new_page(viewport={"width": 1280, "height": 900})
    agent.goto(f"{bot_servers.web_url}/desk/tickets/{ticket.id}")
    agent.fill("input[name=username]", "hal")
    agent.fill("input[name=password]", "browser test password")
    agent.click("button[type=submit]")
    agent.wait_for_selector("#desk-ticket")
    agent.click("#claim")
    agent.wait_for_selector("#send:enabled", timeout=15_000)
    agent.fill("#reply-text", "Plain text is fine.")
    assert agent.locator("#reply-warning").is_hidden()
    agent.fill("#reply-text", REPLY)
    warning = agent.locator("#reply-warning")
    assert warning.is_visible() and "<your order number>" in warning.inner_text()
    assert "exactly as typed" in warning.inner_text()
    agent.click("#send")
    assert agent.locator("#reply-warning-again").is_visible()
    agent.screenshot(path=str(ARTIFACTS / "desk-html-warning.png"))
    assert agent.locator("#transcript li.agent").count() == 0  # nothing was sent yet
    assert all(m.role != "agent" for m in bot_servers.store().messages(int(ticket.id or 0)))
    agent.click("#send")
    agent.locator("#transcript li.agent").wait_for(timeout=15_000)
    assert agent.input_value("#reply-text") == "" and warning.is_hidden()

    # The customer sees the agent's words as typed, tags and all.
    bubble = customer.locator("[data-testid=faqbot-msg-bot]", has_text="Please send")
    bubble.wait_for(timeout=30_000)
    assert "Please send <your order number> and mark it <b>urgent</b>." in bubble.inner_text()
    assert "Hal (support team)" in bubble.inner_text()
    assert bubble.locator("b, img, script").count() == 0
    customer.screenshot(path=str(ARTIFACTS / "widget-agent-html.png"))
    assert customer.evaluate("window.__clicked") is None and dialogs == []
