"""The widget embedded with one tag on another site, in headless Chromium, against the real bot.

Each test gets a fresh browser context (no stored session). The host page is
served from another origin than the web app (``HostSite``), as a customer's
own website would be; the widget API accepts it through FAQBOT_WIDGET_ORIGINS.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from bot.rasa.client import RasaClient
from bot.settings import PROJECT_ROOT
from bot.storage.feedback import read_feedback
from tests.browser.conftest import ARTIFACTS
from tests.servers import TcpProxy, free_port

pytestmark = [pytest.mark.slow, pytest.mark.browser]

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
BOT_TEXTS = "[...document.querySelectorAll('[data-testid=faqbot-msg-bot]')].map(e => e.innerText)"


def host_page(
    bot,
    name: str,
    *,
    lang: str = "en",
    socket_url: str | None = None,
    config: dict | None = None,
    offline_after: int | None = None,
) -> str:
    """Publish a page of "another shop" embedding the widget with the one documented tag."""
    attrs = f'data-socket-url="{socket_url or bot.settings.rasa_url}"'
    if offline_after:
        attrs += f' data-offline-after="{offline_after}"'
    setup = f"<script>window.faqbotConfig = {json.dumps(config)};</script>" if config else ""
    direction = "rtl" if lang == "ar" else "ltr"
    html = f"""<!doctype html>
<html lang="{lang}" dir="{direction}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Another shop</title></head>
<body><main><h1>Another shop</h1><p>Plants and pots, delivered.</p>
<p><a href="#top">Back to top</a></p></main>
{setup}
<script src="{bot.web_url}/static/widget.js" {attrs} defer></script>
</body></html>"""
    return bot.host_site.page(name, html)


@pytest.fixture
def context(browser):
    ARTIFACTS.mkdir(exist_ok=True)
    contexts = []

    def make(**options):
        options.setdefault("viewport", {"width": 1200, "height": 800})
        ctx = browser.new_context(**options)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


def ask(page, text: str) -> None:
    count = page.get_by_test_id("faqbot-msg-bot").count()
    page.get_by_test_id("faqbot-input").fill(text)
    page.get_by_test_id("faqbot-send").click()
    page.wait_for_function(
        f"document.querySelectorAll('[data-testid=faqbot-msg-bot]').length > {count}", timeout=30_000
    )


def axe_violations(page) -> list[dict]:
    if not AXE.exists():
        pytest.fail("axe-core is missing: run scripts/bootstrap.sh --dev (npm ci)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document.getElementById('faqbot-root'))")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:120] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_one_tag_on_another_site_answers_with_thumbs_that_are_recorded(bot_servers, context):
    page = context().new_page()
    page.goto(host_page(bot_servers, "thumbs.html"))
    # the tag loaded the stylesheet and the vendored libraries from the web app, nothing from elsewhere
    assert page.evaluate("typeof io === 'function' && typeof marked === 'object' && typeof DOMPurify === 'function'")
    launcher = page.get_by_test_id("faqbot-launcher")
    assert launcher.evaluate("el => getComputedStyle(el).position") == "fixed"

    launcher.click()
    # typing indicator: shown after the question, gone when the answer is there
    page.evaluate(
        """() => { window.__seen = [];
        const typing = document.querySelector('[data-testid=faqbot-typing]');
        new MutationObserver(() => window.__seen.push(typing.hidden ? 'hidden' : 'typing'))
          .observe(typing, {attributes: true, attributeFilter: ['hidden']});
        new MutationObserver(() => window.__seen.push('message'))
          .observe(document.getElementById('faqbot-log'), {childList: true}); }"""
    )
    ask(page, "how do I return something?")
    seen = page.evaluate("window.__seen")
    assert seen.index("typing") < seen.index("hidden"), seen
    assert page.get_by_test_id("faqbot-typing").is_hidden()

    answer = page.get_by_test_id("faqbot-msg-bot").last
    assert answer.locator("p, ul, ol, strong, a").count() > 0  # markdown rendered by marked
    row = answer.locator("xpath=..")
    up, down = row.get_by_test_id("faqbot-vote-up"), row.get_by_test_id("faqbot-vote-down")
    assert up.get_attribute("aria-label") == "Helpful" and up.get_attribute("aria-pressed") == "false"

    session = page.evaluate("localStorage.getItem('faqbot.session_id')")
    db = bot_servers.settings.database_path

    def votes():
        return [r for r in read_feedback(db) if r["conversation_id"] == session]

    up.click()
    assert up.get_attribute("aria-pressed") == "true"
    (vote,) = bot_servers.wait_for(votes, what="the vote")
    bot_faq = next(e for e in reversed(bot_servers.bot_events(session)) if e["metadata"].get("answer_id"))
    assert (vote["faq_id"], vote["kb_version"], vote["value"]) == (
        bot_faq["metadata"]["faq_id"],
        bot_faq["metadata"]["kb_version"],
        1,
    )
    assert (vote["language"], vote["channel"]) == ("en", "socketio")
    down.click()  # changing one's mind changes the one vote
    bot_servers.wait_for(lambda: [v["value"] for v in votes()] == [-1], what="the changed vote")
    assert up.get_attribute("aria-pressed") == "false" and down.get_attribute("aria-pressed") == "true"
    page.screenshot(path=str(ARTIFACTS / "widget-en.png"))
    # The operator sees the vote against that FAQ.
    admin = bot_servers.desk_session("wanda", "widget test password", role="admin")
    metrics = admin.get(f"{bot_servers.web_url}/admin/api/metrics?faq={vote['faq_id']}", timeout=60).json()
    (row,) = [f for f in metrics["faqs"] if f["faq_id"] == vote["faq_id"]]
    assert row["votes_down"] >= 1 and metrics["votes"] >= 1 and metrics["helpfulness"] is not None

    # A new page of the site keeps the conversation and the vote.
    page.goto(host_page(bot_servers, "thumbs-2.html"))
    page.get_by_test_id("faqbot-msg-bot").first.wait_for(state="attached", timeout=15_000)
    assert page.evaluate("localStorage.getItem('faqbot.session_id')") == session
    assert page.get_by_test_id("faqbot-panel").is_visible()  # it was open: it stays open
    assert page.get_by_test_id("faqbot-vote-down").last.get_attribute("aria-pressed") == "true"

    # A new tab of the same browser continues the same conversation, read back from the tracker.
    tab = page.context.new_page()
    tab.goto(host_page(bot_servers, "thumbs-3.html"))
    tab.get_by_test_id("faqbot-launcher").click()
    tab.get_by_test_id("faqbot-msg-bot").first.wait_for(timeout=15_000)
    assert tab.get_by_test_id("faqbot-msg-user").first.inner_text() == "how do I return something?"
    assert tab.evaluate(BOT_TEXTS) == page.evaluate(BOT_TEXTS)
    assert tab.get_by_test_id("faqbot-vote-up").count() == 1  # the answer can still be rated


def test_arabic_is_right_to_left_and_every_string_follows_the_page_or_browser(bot_servers, context):
    page = context().new_page()
    page.goto(host_page(bot_servers, "ar.html", lang="ar"))
    page.get_by_test_id("faqbot-launcher").click()
    panel = page.get_by_test_id("faqbot-panel")
    assert panel.get_attribute("dir") == "rtl" and panel.get_attribute("lang") == "ar"
    assert page.get_by_test_id("faqbot-input").get_attribute("placeholder") == "اكتب سؤالك…"
    assert page.get_by_test_id("faqbot-human").inner_text() == "التحدث إلى موظف"
    # the launcher sits on the left on a right-to-left page
    box = page.get_by_test_id("faqbot-launcher").bounding_box()
    assert box["x"] < 100
    ask(page, "كيف أتتبع طلبي؟")
    answer = page.get_by_test_id("faqbot-msg-bot").last
    assert answer.evaluate("el => el.matches(':dir(rtl)')")
    assert re.search(r"[\u0600-\u06ff]", answer.inner_text())
    assert page.get_by_test_id("faqbot-vote-up").last.get_attribute("aria-label") == "مفيد"
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "widget-ar-rtl.png"))

    # No language on the page: the browser's (Russian here).
    russian = context(locale="ru-RU").new_page()
    russian.goto(host_page(bot_servers, "nolang.html", lang=""))
    russian.get_by_test_id("faqbot-launcher").click()
    assert russian.get_by_test_id("faqbot-input").get_attribute("placeholder") == "Введите ваш вопрос…"
    assert russian.get_by_test_id("faqbot-panel").get_attribute("dir") == "ltr"


def test_mobile_layout_covers_the_screen(bot_servers, context):
    phone = context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = phone.new_page()
    page.goto(host_page(bot_servers, "mobile.html"))
    page.get_by_test_id("faqbot-launcher").tap()
    ask(page, "which payment methods do you accept")
    box = page.get_by_test_id("faqbot-panel").bounding_box()
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 375, 740)
    assert page.get_by_test_id("faqbot-launcher").is_hidden()  # the panel's close button closes it
    assert page.get_by_test_id("faqbot-input").evaluate("el => getComputedStyle(el).fontSize") == "16px"
    page.screenshot(path=str(ARTIFACTS / "widget-mobile.png"))
    page.get_by_test_id("faqbot-close").tap()
    assert page.get_by_test_id("faqbot-launcher").is_visible()


def test_keyboard_only_and_screen_reader_semantics(bot_servers, context):
    page = context().new_page()
    page.goto(host_page(bot_servers, "keyboard.html"))
    page.get_by_test_id("faqbot-launcher").wait_for()
    # Tab from the page's own link reaches the launcher; Enter opens and puts the focus in the field.
    page.focus("a[href='#top']")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.testid") == "faqbot-launcher"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "faqbot-input"
    launcher = page.get_by_test_id("faqbot-launcher")
    assert launcher.get_attribute("aria-expanded") == "true"
    log = page.locator("#faqbot-log")
    assert (log.get_attribute("role"), log.get_attribute("aria-live")) == ("log", "polite")
    page.keyboard.type("how long does delivery take")
    page.keyboard.press("Enter")
    page.get_by_test_id("faqbot-msg-bot").first.wait_for(timeout=30_000)
    assert axe_violations(page) == []
    # Escape closes and gives the focus back to the launcher.
    page.keyboard.press("Escape")
    assert page.get_by_test_id("faqbot-panel").is_hidden()
    assert page.evaluate("document.activeElement.dataset.testid") == "faqbot-launcher"
    assert launcher.get_attribute("aria-expanded") == "false"


def test_a_person_from_the_button_with_what_the_page_knows_and_an_unread_badge(bot_servers, context):
    customer = {"name": "Grace Hopper", "email": "grace@example.com", "id": "cust-1906"}
    page = context().new_page()
    page.goto(host_page(bot_servers, "person.html", config={"customer": customer}))
    page.get_by_test_id("faqbot-launcher").click()
    page.get_by_test_id("faqbot-human").click()
    page.wait_for_function(f"{BOT_TEXTS}.some(t => /T-\\d{{6}}/.test(t))", timeout=30_000)
    texts = page.evaluate(BOT_TEXTS)
    assert not any(re.search(r"your name\?|email address can", t) for t in texts), texts  # never asked
    number = re.search(r"T-\d{6}", " ".join(texts)).group(0)
    ticket = bot_servers.store().by_number(number)
    assert ticket.customer["customer_name"] == "Grace Hopper"
    assert ticket.customer["customer_email"] == "grace@example.com"
    assert ticket.customer["customer_id"] == "cust-1906"
    assert ticket.customer["page_url"].endswith("/person.html")
    # People own the conversation now: no "talk to a person" button, no "assistant is typing".
    page.wait_for_function("FaqbotWidget.state().mode === 'people'")
    assert page.get_by_test_id("faqbot-human").is_hidden()
    page.get_by_test_id("faqbot-input").fill("It is about my invoice")
    page.get_by_test_id("faqbot-send").click()
    assert page.get_by_test_id("faqbot-typing").is_hidden()

    # The customer closes the widget; an agent replies (with markdown, and HTML that must not run).
    page.get_by_test_id("faqbot-close").click()
    desk = bot_servers.desk_session("bea", "widget test password")
    base = f"{bot_servers.web_url}/desk/tickets/{ticket.id}"
    assert desk.post(f"{base}/claim", timeout=10).ok
    reply = (
        "**Invoice** sent: see [your account](https://larkspur.example/account) "
        '<img src="x" onerror="window.__xss = 1"> <script>window.__xss = 2</script> '
        "[click](javascript:window.__xss=3)"
    )
    assert desk.post(f"{base}/reply", json={"text": reply}, timeout=10).status_code == 201
    badge = page.get_by_test_id("faqbot-badge")
    badge.wait_for(timeout=30_000)
    assert badge.inner_text() == "1"
    assert "1 new message" in page.get_by_test_id("faqbot-launcher").get_attribute("aria-label")
    page.screenshot(path=str(ARTIFACTS / "widget-unread-badge.png"))
    page.get_by_test_id("faqbot-launcher").click()
    assert badge.is_hidden()
    message = page.locator("[data-testid=faqbot-msg-bot]", has_text="sent: see")
    assert message.locator("strong").inner_text() == "Invoice"
    link = message.locator("a", has_text="your account")
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
    assert message.locator("img, script").count() == 0
    assert message.locator("a", has_text="click").get_attribute("href") is None
    assert page.evaluate("window.__xss") is None
    assert "Bea Agent (support team)" in message.inner_text()


def test_reconnecting_after_the_network_drops_and_nothing_typed_is_lost(bot_servers, context):
    proxy = TcpProxy(bot_servers.settings.rasa_port).start()
    try:
        page = context().new_page()
        page.goto(host_page(bot_servers, "flaky.html", socket_url=f"http://127.0.0.1:{proxy.port}", offline_after=60))
        page.get_by_test_id("faqbot-launcher").click()
        ask(page, "how do I reset my password")
        status = page.get_by_test_id("faqbot-status")
        proxy.stop()  # the customer's network goes away
        status.wait_for(timeout=15_000)
        assert status.inner_text() == "Reconnecting…"
        page.screenshot(path=str(ARTIFACTS / "widget-reconnecting.png"))
        # A question typed while offline is kept and sent when the connection is back.
        page.get_by_test_id("faqbot-input").fill("which payment methods do you accept")
        page.get_by_test_id("faqbot-send").click()
        assert page.evaluate("FaqbotWidget.state().queued") == 1
        # The bot says something while the customer is offline (as an agent's reply would be).
        session = page.evaluate("FaqbotWidget.state().sessionId")
        RasaClient(bot_servers.settings.rasa_url, bot_servers.settings.rasa_token, timeout=30).trigger(session, "greet")
        greeting = bot_servers.bot_events(session)[-1]["text"]
        proxy.start()
        status.wait_for(state="hidden", timeout=30_000)
        page.wait_for_function(f"{BOT_TEXTS}.length >= 3", timeout=30_000)
        assert page.evaluate("FaqbotWidget.state().queued") == 0
        texts = page.evaluate(BOT_TEXTS)
        assert texts.count(greeting) == 1, texts  # caught up after the reconnect, shown once
        assert any("PayPal" in t for t in texts)  # the question typed offline got its answer
    finally:
        proxy.stop()


def test_leave_a_message_when_the_bot_is_unreachable(bot_servers, context):
    customer = {"name": "Ada Lovelace", "email": "ada@example.com"}
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: Rasa is "down"
    page = context().new_page()
    page.goto(host_page(bot_servers, "offline.html", socket_url=dead, config={"customer": customer}, offline_after=2))
    page.get_by_test_id("faqbot-launcher").click()
    page.get_by_test_id("faqbot-input").fill("my order LK-555555 never arrived")
    page.get_by_test_id("faqbot-send").click()
    form = page.get_by_test_id("faqbot-offline")
    form.wait_for(timeout=15_000)
    assert page.get_by_test_id("faqbot-status").inner_text() == "Chat is unavailable right now."
    # what the page and the customer already gave is filled in
    assert page.locator("#faqbot-offline-name").input_value() == "Ada Lovelace"
    assert page.locator("#faqbot-offline-email").input_value() == "ada@example.com"
    assert page.locator("#faqbot-offline-message").input_value() == "my order LK-555555 never arrived"
    page.locator("#faqbot-offline-email").fill("not an email")
    page.locator("form.fb-offline-form button[type=submit]").click()
    assert page.get_by_role("alert").inner_text() == "Please enter a valid email address."
    assert page.evaluate("document.activeElement.id") == "faqbot-offline-email"
    page.locator("#faqbot-offline-email").fill("ada@example.com")
    page.locator("#faqbot-offline-message").fill("my order LK-555555 never arrived, please check")
    page.screenshot(path=str(ARTIFACTS / "widget-leave-a-message.png"))
    page.locator("form.fb-offline-form button[type=submit]").click()
    notice = page.get_by_test_id("faqbot-notice")
    notice.wait_for(timeout=15_000)
    number = re.search(r"T-\d{6}", notice.inner_text()).group(0)
    assert "ada@example.com" in notice.inner_text()
    ticket = bot_servers.store().by_number(number)
    assert (ticket.reason, ticket.status, ticket.channel) == ("offline_message", "waiting", "socketio")
    assert ticket.question == "my order LK-555555 never arrived, please check"
    assert ticket.customer["customer_email"] == "ada@example.com"
    # what the widget showed goes along as the customer's copy, apart from what the server recorded
    assert ticket.customer_copy[0] == {"role": "customer", "text": "my order LK-555555 never arrived"}
    assert [t["text"] for t in ticket.transcript] == ["my order LK-555555 never arrived, please check"]
    # the queued message went with it: it will not be sent again when the bot is back
    assert page.evaluate("FaqbotWidget.state().queued") == 0
    time.sleep(0.2)
    assert page.get_by_test_id("faqbot-notice").count() == 1


def test_a_question_typed_during_an_outage_after_the_rating_is_answered(bot_servers, context):
    """After a rating, the bot asks for a comment; the network goes, the customer asks a question meanwhile.
    Sent when the connection is back, it used to be stored as the comment and never answered."""
    customer = {"name": "Ada Lovelace", "email": "ada@example.com"}
    proxy = TcpProxy(bot_servers.settings.rasa_port).start()
    try:
        page = context().new_page()
        socket_url = f"http://127.0.0.1:{proxy.port}"
        page.goto(host_page(bot_servers, "rated.html", socket_url=socket_url, config={"customer": customer}))
        page.get_by_test_id("faqbot-launcher").click()
        page.get_by_test_id("faqbot-human").click()
        page.wait_for_function(f"{BOT_TEXTS}.some(t => /T-\\d{{6}}/.test(t))", timeout=30_000)
        number = re.search(r"T-\d{6}", " ".join(page.evaluate(BOT_TEXTS))).group(0)
        ticket = bot_servers.store().by_number(number)
        desk = bot_servers.desk_session("cy", "widget test password")
        base = f"{bot_servers.web_url}/desk/tickets/{ticket.id}"
        assert desk.post(f"{base}/claim", timeout=10).ok and desk.post(f"{base}/resolve", timeout=10).ok
        rating = page.locator("[data-testid=faqbot-button]", has_text="4").last
        rating.wait_for(timeout=30_000)
        count = page.get_by_test_id("faqbot-msg-bot").count()
        rating.click()
        page.wait_for_function(f"{BOT_TEXTS}.length > {count}", timeout=30_000)
        assert "Anything you'd like to tell us" in page.evaluate(BOT_TEXTS)[-1]

        proxy.stop()  # the connection goes while the comment is asked for
        status = page.get_by_test_id("faqbot-status")
        status.wait_for(timeout=15_000)
        count = page.get_by_test_id("faqbot-msg-bot").count()
        page.get_by_test_id("faqbot-input").fill("how do I return an item?")
        page.get_by_test_id("faqbot-send").click()
        assert page.evaluate("FaqbotWidget.state().queued") == 1
        proxy.start()
        page.wait_for_function(f"{BOT_TEXTS}.length > {count}", timeout=30_000)
        page.wait_for_function(f"{BOT_TEXTS}.some(t => t.includes('returns portal'))", timeout=30_000)
        rated = bot_servers.store().get(int(ticket.id))
        assert (rated.rating_score, rated.rating_comment) == (4, None)
    finally:
        proxy.stop()
