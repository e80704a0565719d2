"""The widget's rough edges of issue #22, in headless Chromium against the real bot: the greeting and
suggested questions on an empty panel (en, ar, ru), markdown paragraphs, the latest message in view on
another page, no "Back to the bot" after a resolved ticket, the leave-a-message form at 860 px and on a
phone with the name the bot learned, and the title and demo shop in each language."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.kb.loader import load_knowledge_base
from bot.settings import PROJECT_ROOT
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_widget_features import BOT_TEXTS, ask, host_page
from tests.servers import TcpProxy, free_port

pytestmark = [pytest.mark.slow, pytest.mark.browser]

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
PICK = yaml.safe_load((PROJECT_ROOT / "knowledge_base" / "widget.yml").read_text(encoding="utf-8"))["suggested"]
#: Whether the log shows its end: what the customer sees is the latest message.
AT_END = (
    "(() => { const s = document.querySelector('.fb-messages');"
    " return s.scrollHeight - s.scrollTop - s.clientHeight; })()"
)


@pytest.fixture
def context(browser):
    """A fresh browser context per call (no stored session), closed after the test."""
    ARTIFACTS.mkdir(exist_ok=True)
    contexts = []

    def make(**options):
        options.setdefault("viewport", {"width": 1200, "height": 800})
        contexts.append(browser.new_context(**options))
        return contexts[-1]

    yield make
    for made in contexts:
        made.close()


def greeting(lang: str) -> str:
    variations = DOMAIN["responses"]["utter_greet"]
    for variation in variations:
        if any(c["value"] == lang for c in variation.get("condition") or []):
            return variation["text"]
    return next(v["text"] for v in variations if not v.get("condition"))


def plain(line: str) -> str:
    """The end of an answer's line as the widget shows it (no markdown marks, list numbers or links)."""
    return re.sub(r"[*_`]", "", line).strip()[-20:]


def visible_and_unclipped(page, selector: str) -> bool:
    """The element's centre is on screen and it is what is there (not cut off by a scrolling parent)."""
    return page.evaluate(
        """(sel) => { const el = document.querySelector(sel); const r = el.getBoundingClientRect();
        const x = r.left + r.width / 2, y = r.top + r.height / 2;
        if (r.height === 0 || y < 0 || y > innerHeight || r.bottom > innerHeight) return false;
        const hit = document.elementFromPoint(x, y); return hit === el || el.contains(hit); }""",
        selector,
    )


@pytest.mark.parametrize("lang", ["en", "ar", "ru"])
def test_an_empty_panel_greets_and_suggests_questions_and_a_click_asks_one(bot_servers, context, lang):
    kb = load_knowledge_base(bot_servers.settings.kb_dir, bot_servers.settings.languages)
    page = context().new_page()
    page.goto(host_page(bot_servers, f"welcome-{lang}.html", lang=lang))
    page.get_by_test_id("faqbot-launcher").click()
    shown = page.get_by_test_id("faqbot-greeting")
    shown.wait_for(timeout=15_000)
    assert shown.inner_text().strip() == greeting(lang)
    suggestions = page.get_by_test_id("faqbot-suggestion")
    titles = [kb.get(faq_id, lang).question for faq_id in PICK]
    assert suggestions.all_inner_texts() == titles
    if lang == "ar":
        assert shown.evaluate("el => el.matches(':dir(rtl)')")
    page.screenshot(path=str(ARTIFACTS / f"widget-welcome-{lang}.png"))

    suggestions.nth(1).click()
    page.get_by_test_id("faqbot-msg-bot").first.wait_for(timeout=30_000)
    assert page.get_by_test_id("faqbot-msg-user").all_inner_texts() == [titles[1]]
    # exactly that FAQ answered it, in the page's language
    answered = bot_servers.bot_events(page.evaluate("FaqbotWidget.state().sessionId"))[-1]["metadata"]
    assert answered["faq_id"] == PICK[1]
    assert (
        plain(kb.get(PICK[1], lang).answer.splitlines()[-1]) in page.get_by_test_id("faqbot-msg-bot").first.inner_text()
    )
    assert page.get_by_test_id("faqbot-vote-up").count() == 1  # a FAQ answer, recorded against its FAQ
    # the greeting stays above the question; the suggestions are gone, also after a reload
    assert suggestions.count() == 0 and shown.count() == 1
    first_row = page.evaluate("document.querySelector('#faqbot-log .fb-row').textContent")
    assert first_row.strip() == shown.inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / f"widget-welcome-{lang}-asked.png"))
    page.reload()
    page.get_by_test_id("faqbot-msg-bot").first.wait_for(timeout=15_000)
    assert shown.count() == 1 and suggestions.count() == 0


def test_answers_wrap_as_paragraphs_not_at_every_newline(bot_servers, context):
    page = context().new_page()
    page.goto(host_page(bot_servers, "markdown.html"))
    page.get_by_test_id("faqbot-launcher").click()
    ask(page, "how do I track my order")
    answer = page.get_by_test_id("faqbot-msg-bot").last
    # "You can also open\n**My account → Orders**" in the file is one line in the bubble
    assert answer.locator("br").count() == 0
    assert answer.locator("p").count() == 2
    assert "You can also open My account → Orders and choose Track package." in answer.inner_text()
    ask(page, "what does my order status mean")
    listed = page.get_by_test_id("faqbot-msg-bot").last
    assert listed.locator("li").count() == 6 and listed.locator("br").count() == 0


def test_reopening_on_another_page_shows_the_latest_message(bot_servers, context):
    browser_context = context(viewport={"width": 1200, "height": 700})
    page = browser_context.new_page()
    page.goto(host_page(bot_servers, "first.html"))
    page.get_by_test_id("faqbot-launcher").click()
    for question in ("what does my order status mean", "how do I return an item", "which payment methods"):
        ask(page, question)
    assert page.evaluate(AT_END) < 5
    last = page.get_by_test_id("faqbot-msg-bot").last.inner_text()
    page.goto(host_page(bot_servers, "second.html"))  # the panel opens again by itself
    page.get_by_test_id("faqbot-msg-bot").last.wait_for(timeout=15_000)
    page.wait_for_function(f"{AT_END} < 5", timeout=5_000)
    latest = page.get_by_test_id("faqbot-msg-bot").last
    assert latest.inner_text() == last and latest.is_visible()
    box, log = latest.bounding_box(), page.locator(".fb-messages").bounding_box()
    assert box["y"] + box["height"] <= log["y"] + log["height"] + 1
    page.screenshot(path=str(ARTIFACTS / "widget-reopened.png"))


def test_after_the_ticket_is_resolved_back_to_the_bot_is_no_longer_offered(bot_servers, context):
    customer = {"name": "Grace Hopper", "email": "grace@example.com"}
    page = context().new_page()
    page.goto(host_page(bot_servers, "resolved.html", config={"customer": customer}))
    page.get_by_test_id("faqbot-launcher").click()
    page.get_by_test_id("faqbot-human").click()
    back = page.locator("[data-testid=faqbot-button]", has_text="Back to the bot")
    back.wait_for(timeout=30_000)
    assert back.is_enabled()
    number = re.search(r"T-\d{6}", " ".join(page.evaluate(BOT_TEXTS))).group(0)
    ticket = bot_servers.store().by_number(number)
    desk = bot_servers.desk_session("rita", "widget test password")
    base = f"{bot_servers.web_url}/desk/tickets/{ticket.id}"
    assert desk.post(f"{base}/claim", timeout=10).ok
    # an agent's reply keeps the lines the agent typed (FAQ answers wrap; see the markdown test)
    reply = "Hi Grace,\nyour parcel left today.\nAnything else?"
    assert desk.post(f"{base}/reply", json={"text": reply}, timeout=10).status_code == 201
    typed = page.locator("[data-testid=faqbot-msg-bot]", has_text="your parcel left today")
    typed.wait_for(timeout=30_000)
    assert typed.locator("br").count() == 2
    assert desk.post(f"{base}/resolve", timeout=10).ok
    page.locator("[data-testid=faqbot-msg-bot]", has_text="How happy are you").wait_for(timeout=30_000)
    assert back.count() == 0
    assert page.evaluate("FaqbotWidget.state().mode") == "bot"
    page.screenshot(path=str(ARTIFACTS / "widget-resolved.png"))
    page.reload()
    page.locator("[data-testid=faqbot-msg-bot]", has_text="How happy are you").wait_for(timeout=15_000)
    assert back.count() == 0


def test_leave_a_message_fits_at_860_px_and_on_a_phone_with_the_name_the_bot_learned(bot_servers, context):
    proxy = TcpProxy(bot_servers.settings.rasa_port).start()
    try:
        page = context(viewport={"width": 1280, "height": 860}).new_page()
        url = f"http://127.0.0.1:{proxy.port}"
        page.goto(host_page(bot_servers, "learned.html", socket_url=url, offline_after=2))
        page.get_by_test_id("faqbot-launcher").click()
        ask(page, "I want to talk to a person")
        for answer in ("Ada Lovelace", "ada@example.com"):
            ask(page, answer)
        page.wait_for_function(f"{BOT_TEXTS}.some(t => /T-\\d{{6}}/.test(t))", timeout=30_000)
        proxy.stop()  # the bot becomes unreachable
        page.get_by_test_id("faqbot-offline").wait_for(timeout=20_000)
        assert page.locator("#faqbot-offline-name").input_value() == "Ada Lovelace"
        assert page.locator("#faqbot-offline-email").input_value() == "ada@example.com"
        page.locator("#faqbot-offline-message").fill("Please call me back about my order.\n" * 3)
        assert visible_and_unclipped(page, ".fb-offline-submit")
        page.screenshot(path=str(ARTIFACTS / "widget-leave-a-message-860.png"))
    finally:
        proxy.stop()

    phone = context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = phone.new_page()
    dead = f"http://127.0.0.1:{free_port()}"
    page.goto(host_page(bot_servers, "phone-offline.html", socket_url=dead, offline_after=2))
    page.get_by_test_id("faqbot-launcher").tap()
    page.get_by_test_id("faqbot-input").fill("my parcel never came, order LK-555555")
    page.get_by_test_id("faqbot-send").tap()
    page.get_by_test_id("faqbot-offline").wait_for(timeout=20_000)
    page.locator("#faqbot-offline-message").tap()
    assert visible_and_unclipped(page, ".fb-offline-submit")
    # the fields scroll inside the form, the button stays
    page.locator("#faqbot-offline-name").scroll_into_view_if_needed()
    assert visible_and_unclipped(page, ".fb-offline-submit")
    page.screenshot(path=str(ARTIFACTS / "widget-leave-a-message-phone.png"))


@pytest.mark.parametrize(
    "lang, title, heading",
    [
        ("en", "Larkspur help", "Home goods, delivered to your door"),
        ("ar", "مساعدة Larkspur", "مستلزمات منزلية تصلك إلى باب بيتك"),
        ("ru", "Помощь Larkspur", "Товары для дома с доставкой до двери"),
    ],
)
def test_the_demo_shop_and_the_widgets_title_are_in_the_pages_language(bot_servers, context, lang, title, heading):
    page = context().new_page()
    page.goto(f"{bot_servers.web_url}/?lang={lang}")
    assert page.locator("h1").inner_text() == heading
    page.get_by_test_id("faqbot-launcher").click()
    assert page.locator("#faqbot-title").inner_text() == title
    page.get_by_test_id("faqbot-greeting").wait_for(timeout=15_000)
    if lang != "en":
        # the shop's own text is in the page's language: no English words besides the brand
        shop = page.locator("main").inner_text()
        assert re.findall(r"[A-Za-z]+", shop.replace("Larkspur", "")) == [], shop
    page.screenshot(path=str(ARTIFACTS / f"shop-{lang}.png"))


def test_a_site_gives_the_title_per_language(bot_servers, context):
    titles = {"en": "Plant help", "ar": "مساعدة النباتات", "ru": "Помощь с растениями"}
    page = context().new_page()
    page.goto(host_page(bot_servers, "titles.html", lang="ar", config={"title": titles}))
    page.get_by_test_id("faqbot-launcher").click()
    assert page.locator("#faqbot-title").inner_text() == "مساعدة النباتات"
