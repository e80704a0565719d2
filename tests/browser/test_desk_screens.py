"""The desk and the dashboard in headless Chromium against the real bot (#22), with screenshots.

An Arabic customer in the widget gets a FAQ answer with lists and asks for a person. On the desk the
transcript shows that answer exactly as the widget rendered it (same HTML), right to left; the page is
one screen tall with the reply box and the context panel in view and the transcript scrolling on its own.
The agent inserts a canned reply: the customer's widget shows "an agent is typing" until the reply
arrives, rendered. The dashboard's filters are pick-lists of the data; every page has the navigation of
the user's role and a sign-out; an editor edits the canned replies on their screen.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BOT_BUBBLES = "[...document.querySelectorAll('[data-testid=faqbot-msg-bot]')]"
PASSWORD = "desk screens browser password"
#: Exact questions of the Arabic knowledge base whose answers hold lists (returns.md).
QUESTIONS = ("ما سياسة الإرجاع لديكم؟", "كيف أُرجع منتجًا؟", "متى سأسترد أموالي؟")


def widget_says(page, text: str) -> list[str]:
    """Send ``text`` from the widget; the bot's new messages once at least one has come."""
    count = page.get_by_test_id("faqbot-msg-bot").count()
    page.get_by_test_id("faqbot-input").fill(text)
    page.get_by_test_id("faqbot-send").click()
    page.wait_for_function(f"{BOT_BUBBLES}.length > {count}", timeout=30_000)
    page.wait_for_timeout(300)  # a second message of the same turn
    return list(page.evaluate(f"{BOT_BUBBLES}.map(e => e.innerText)"))[count:]


def sign_in(page, url: str, username: str) -> None:
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def nav_links(page) -> list[str]:
    return list(page.eval_on_selector_all(".site-header [data-nav]", "els => els.map(e => e.dataset.nav)"))


def test_an_arabic_ticket_on_the_desk_rendered_in_view_with_canned_replies_and_typing(bot_servers, browser):
    bot = bot_servers
    ARTIFACTS.mkdir(exist_ok=True)
    customer = browser.new_page(viewport={"width": 1200, "height": 860})
    customer.goto(bot.web_url + "/?lang=ar")
    customer.get_by_test_id("faqbot-launcher").click()
    for question in QUESTIONS:
        widget_says(customer, question)
    widget_lists = customer.locator("[data-testid=faqbot-msg-bot]:has(ul), [data-testid=faqbot-msg-bot]:has(ol)")
    assert widget_lists.count() >= 2, customer.evaluate(f"{BOT_BUBBLES}.map(e => e.innerText)")

    # The customer asks for a person and fills the form.
    name = "Ada Lovelace"  # letters only: the form takes a name, nothing else
    count = customer.get_by_test_id("faqbot-msg-bot").count()
    customer.get_by_test_id("faqbot-human").click()
    customer.wait_for_function(f"{BOT_BUBBLES}.length > {count}", timeout=30_000)
    texts: list[str] = []
    for answer in (name, f"ada-{uuid.uuid4().hex[:8]}@example.com", "LK-123456"):
        texts += widget_says(customer, answer)
        if re.search(r"T-\d{6}", " ".join(texts)):
            break
    number = re.search(r"T-\d{6}", " ".join(texts))
    assert number, texts
    ticket = bot.store().by_number(number.group(0))
    assert ticket.language == "ar" and ticket.channel == "socketio"

    bot.add_user("dina", PASSWORD, role="agent", name="Dina")
    agent = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(agent, f"{bot.web_url}/desk/tickets/{ticket.id}", "dina")
    agent.wait_for_selector("#desk-ticket")
    agent.wait_for_selector("#transcript li.bot .text.md")

    # The bot's answers as the customer saw them: the same sanitised HTML as the widget, right to left.
    desk_html = agent.eval_on_selector_all("#transcript li.bot .text.md", "els => els.map(e => e.innerHTML)")
    widget_html = widget_lists.evaluate_all("els => els.map(e => e.innerHTML)")
    assert widget_html and all(html in desk_html for html in widget_html), (widget_html, desk_html)
    shown = agent.inner_text("#transcript")
    assert "**" not in shown and "](" not in shown
    directions = agent.eval_on_selector_all(
        "#transcript li.bot .text.md ul, #transcript li.bot .text.md ol",
        "els => els.map(e => getComputedStyle(e).direction)",
    )
    assert directions and set(directions) == {"rtl"}, directions
    # The list markers sit at the right, where Arabic starts: each item's right edge beyond its text's start.
    first_list = agent.locator("#transcript li.bot .text.md ul").first
    box, item = first_list.bounding_box(), first_list.locator("li").first.bounding_box()
    assert box and item and abs((box["x"] + box["width"]) - (item["x"] + item["width"])) > 10  # padding on the right

    # One screen: the reply box and the context panel in view, the transcript scrolling on its own.
    layout = agent.evaluate(
        """() => {
          const scroller = document.getElementById('transcript-scroll');
          const rect = (id) => document.getElementById(id).getBoundingClientRect();
          return {page: document.scrollingElement.scrollHeight, view: innerHeight,
                  reply: rect('reply-text').bottom, send: rect('send').bottom,
                  panel: document.querySelector('.context-panel').getBoundingClientRect().top,
                  scrolls: scroller.scrollHeight > scroller.clientHeight,
                  atEnd: scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 5};
        }"""
    )
    assert layout["page"] <= layout["view"] + 1, layout
    assert layout["reply"] <= layout["view"] and layout["send"] <= layout["view"] and layout["panel"] < 200, layout
    assert layout["scrolls"] and layout["atEnd"], layout
    agent.screenshot(path=str(ARTIFACTS / "desk-ticket-ar.png"))
    # Scrolled back to the bot's answer with lists: only the transcript moves, the reply box stays.
    first_list.scroll_into_view_if_needed()
    assert agent.evaluate("document.scrollingElement.scrollTop") == 0
    assert agent.locator("#reply-text").bounding_box()["y"] < 800  # type: ignore[index]
    agent.screenshot(path=str(ARTIFACTS / "desk-ticket-ar-answer.png"))

    # The agent claims it and inserts a canned reply: the customer's widget says an agent is typing.
    agent.click("#claim")
    agent.wait_for_selector("#send:enabled", timeout=15_000)
    canned = agent.locator("#canned-list .canned-reply")
    assert canned.count() >= 3
    agent.fill("#canned-filter", "استرداد")
    visible = [canned.nth(i).is_visible() for i in range(canned.count())]
    assert visible.count(True) == 1, visible
    refund = canned.filter(has_text="بدء استرداد المبلغ")
    refund.locator(".insert-canned").click()
    inserted = agent.input_value("#reply-text")
    assert inserted.startswith("بدأتُ إجراءات استرداد المبلغ") and "- تابِع" in inserted
    typing = customer.get_by_test_id("faqbot-typing")
    typing.wait_for(state="visible", timeout=15_000)
    assert typing.get_attribute("aria-label") == "موظف الدعم يكتب"
    customer.screenshot(path=str(ARTIFACTS / "widget-agent-typing-ar.png"))

    # It goes away when the agent empties the box, and comes back when the agent writes again.
    agent.fill("#reply-text", "")
    typing.wait_for(state="hidden", timeout=15_000)
    refund.locator(".insert-canned").click()
    typing.wait_for(state="visible", timeout=15_000)

    # The reply reaches the customer rendered (bold, link, a right-to-left list) and ends the indicator.
    count = customer.get_by_test_id("faqbot-msg-bot").count()
    agent.click("#send")
    agent.locator("#transcript li.agent .text.md strong").wait_for(timeout=15_000)
    customer.wait_for_function(f"{BOT_BUBBLES}.length > {count}", timeout=30_000)
    reply = customer.locator("[data-testid=faqbot-msg-bot]").last
    assert reply.locator("strong").count() == 1 and reply.locator("a[href*='larkspur.example']").count() == 1
    assert reply.locator("ul li").count() == 2
    assert typing.is_hidden()
    customer.screenshot(path=str(ARTIFACTS / "widget-agent-reply-ar.png"))
    agent.screenshot(path=str(ARTIFACTS / "desk-ticket-ar-replied.png"))


def test_navigation_pick_lists_and_the_canned_replies_screen(bot_servers, browser):
    bot = bot_servers
    ARTIFACTS.mkdir(exist_ok=True)
    bot.say(f"pick{uuid.uuid4().hex[:8]}x", "how do I reset my password?")
    bot.add_user("nadia-admin", PASSWORD, role="admin", name="Nadia")  # a name no other test uses
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    sign_in(page, bot.web_url + "/admin/dashboard?since=1d", "nadia-admin")
    page.wait_for_selector("#numbers")

    # Every screen of the admin's role, the current one marked, and sign-out.
    assert nav_links(page) == ["desk.queue", "editor.index", "editor.inbox", "canned.index", "dashboard.index"]
    assert page.get_attribute("[data-nav='dashboard.index']", "aria-current") == "page"

    # The filters are pick-lists of what the data holds.
    options = {
        name: page.eval_on_selector_all(f"select[name={name}] option", "els => els.map(e => e.value)")
        for name in ("channel", "lang", "faq", "tag", "kb_version")
    }
    assert options["channel"][0] == "" and "rest" in options["channel"], options["channel"]
    assert {"en", "ar", "ru"} <= set(options["lang"])
    assert "account-password-reset" in options["faq"], options["faq"][:10]
    assert len(options["tag"]) > 3 and len(options["kb_version"]) >= 2
    page.select_option("select[name=lang]", "en")
    page.select_option("select[name=channel]", "rest")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r"lang=en"))
    assert page.locator("select[name=lang]").input_value() == "en"
    assert page.locator("select[name=channel]").input_value() == "rest"
    assert int(page.locator("[data-metric=conversations]").inner_text()) >= 1
    page.screenshot(path=str(ARTIFACTS / "dashboard-pick-lists.png"), full_page=True)

    # From the dashboard through each screen by the navigation.
    for link, ready in (("desk.queue", "#desk-queue"), ("editor.index", "#editor-index"),
                        ("editor.inbox", "#editor-inbox"), ("canned.index", "#canned-page"),
                        ("dashboard.index", "#numbers")):  # fmt: skip
        page.click(f".site-header [data-nav='{link}']")
        page.wait_for_selector(ready)
        assert page.get_attribute(f"[data-nav='{link}']", "aria-current") == "page", link
        assert page.locator("#sign-out").is_visible(), link
    page.click("[data-nav='canned.index']")
    page.wait_for_selector("#canned-page")
    page.screenshot(path=str(ARTIFACTS / "canned-replies.png"), full_page=True)

    # An editor edits the English canned replies: a broken file is refused with its line, a good one saved.
    page.click("#sign-out")
    page.wait_for_selector("input[name=username]")
    bot.add_user("erin", PASSWORD, role="editor", name="Erin")
    sign_in(page, bot.web_url + "/canned/", "erin")
    page.wait_for_selector("#canned-page")
    assert nav_links(page) == ["editor.index", "editor.inbox", "canned.index"]
    english = page.locator(".canned-lang[data-lang=en]")
    english.locator(".edit-toggle").click()
    source = english.locator("textarea")
    original = source.input_value()
    source.fill(original + "- id: greeting\n  title: Again\n  text: twice\n")
    english.locator("button[type=submit]").click()
    # The answer, whatever it is (its status line says), then its problems: a timeout alone once said nothing.
    page.wait_for_function(
        "!document.querySelector('.canned-lang[data-lang=en] .save-status').innerText.startsWith('Saving')"
    )
    assert english.locator(".problems li").count(), english.locator(".save-status").inner_text()
    assert "duplicate id 'greeting'" in english.locator(".problems").inner_text()
    assert "nothing was saved" in english.locator(".save-status").inner_text()
    source.fill(
        original + "- id: holiday-hours\n  title: Holiday hours\n  text: We answer **9:00-14:00** on holidays.\n"
    )
    english.locator("button[type=submit]").click()
    page.wait_for_function(
        "document.querySelector('.canned-lang[data-lang=en] .save-status').innerText.startsWith('Saved')"
    )
    assert "6 replies" in english.locator(".save-status").inner_text()
    page.screenshot(path=str(ARTIFACTS / "canned-replies-edit.png"), full_page=True)
    page.reload()
    assert english.locator("li", has_text="Holiday hours").locator(".text.md strong").inner_text() == "9:00-14:00"

    # An agent's navigation has no dashboard and no knowledge base; signing out ends at the sign-in page.
    page.click("#sign-out")
    bot.add_user("dina", PASSWORD, role="agent", name="Dina")
    sign_in(page, bot.web_url + "/desk/", "dina")
    page.wait_for_selector("#desk-queue")
    assert nav_links(page) == ["desk.queue", "canned.index"]
    page.screenshot(path=str(ARTIFACTS / "desk-queue-nav.png"))
    page.click("#sign-out")
    page.wait_for_selector("input[name=username]")
    assert page.goto(bot.web_url + "/admin/dashboard").url.startswith(bot.web_url + "/login")
