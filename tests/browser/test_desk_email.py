"""The desk in Chromium answering a message left while the bot was unreachable: the agent sees before
typing that the reply goes by email, follows it to "sent", sees a refused one die and sends it again."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _leave_message(bot, email: str) -> str:
    response = requests.post(
        f"{bot.web_url}/widget/api/messages",
        json={"email": email, "name": "Ada", "message": "My parcel never came", "language": "en",
              "conversation_id": f"left-{uuid.uuid4().hex}"},
        headers={"Origin": bot.web_url},
        timeout=30,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return str(response.json()["ticket_number"])


def test_the_desk_answers_a_left_message_by_email_and_shows_each_delivery(bot_servers, browser):
    bot = bot_servers
    address = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    number = _leave_message(bot, address)
    ticket = bot.store().by_number(number)
    bot.add_user("eli", "browser email password", name="Eli")
    agent = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        agent.goto(f"{bot.web_url}/desk/tickets/{ticket.id}")
        agent.fill("input[name=username]", "eli")
        agent.fill("input[name=password]", "browser email password")
        agent.click("button[type=submit]")
        agent.goto(f"{bot.web_url}/desk/tickets/{ticket.id}")
        agent.wait_for_selector("#desk-ticket")
        route = agent.locator("#reply-route")
        assert f"your reply goes by email to {address}" in route.inner_text()  # before typing
        assert agent.locator("#reply-via").is_hidden() and agent.locator("#reply-blocked").is_hidden()

        agent.click("#claim")
        agent.wait_for_selector("#send:enabled", timeout=15_000)
        agent.fill("#reply-text", "Your parcel is with the courier and arrives tomorrow.")
        agent.click("#send")
        agent.wait_for_selector(f"#transcript .delivery:text('by email to {address}: sent')", timeout=15_000)
        assert len(bot.mailbox.for_ticket(number)) == 1
        agent.screenshot(path=str(ARTIFACTS / "desk-email-sent.png"))

        # The mail server refuses the address for good: the reply is dead, and can be sent again.
        bot.mailbox.reject[address] = "550 5.1.1 mailbox unavailable"
        agent.fill("#reply-text", "One more thing: the tracking number is RU123.")
        agent.click("#send")
        dead = agent.locator("#transcript .delivery.state-dead")
        dead.wait_for(timeout=15_000)
        assert "550 5.1.1 mailbox unavailable" in dead.inner_text()
        agent.screenshot(path=str(ARTIFACTS / "desk-email-dead.png"))
        del bot.mailbox.reject[address]
        dead.locator("button.retry-email").click()
        agent.wait_for_function(
            "document.querySelectorAll('#transcript .delivery.state-sent').length === 2", timeout=15_000
        )
        assert len(bot.mailbox.for_ticket(number)) == 2
    finally:
        agent.close()
