"""The third-party rasa-webchat widget (npm rasa-webchat 1.0.1, which many Rasa sites already run) against
faqbot's socket.io channel, in headless Chromium: the greeting, an answer with a link, quick replies and a
click on one, in English and Arabic, from pages of both of the web app's own origins (localhost and
127.0.0.1: ``faqbot run`` must allow every origin at Rasa's CORS, not only the last one given).

rasa-webchat shows only the standard message shapes ({text}, {text, quick_replies|buttons}, attachments)
after taking ``metadata`` off; faqbot's context rides there (channels/socketio.py). The package comes
from the npm registry, pinned and checked, through scripts/bootstrap.sh --dev (into var/test-tools/).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.kb.loader import load_knowledge_base
from bot.settings import PROJECT_ROOT
from tests.browser.conftest import ARTIFACTS, CHROMIUM

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WEBCHAT = PROJECT_ROOT / "var" / "test-tools" / "rasa-webchat-1.0.1" / "index.js"


@pytest.fixture(scope="module")
def browser():
    """Chromium as in conftest.py, and without its Local Network Access check: the test page is answered by
    Playwright (``serve``) at the web app's origin, so Chromium cannot tell it comes from loopback and
    would block its requests to Rasa on 127.0.0.1 as a public page's; a real page there is loopback."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    lna = "LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights"
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-gpu",
                f"--disable-features={lna}",
            ],
        )
        yield browser
        browser.close()


def webchat_page(socket_url: str, lang: str) -> str:
    """A page embedding rasa-webchat as its README shows, with the customer's language as customData."""
    options = {
        "selector": "#webchat",
        "initPayload": "/greet",
        "customData": {"language": lang},
        "socketUrl": socket_url,
        "socketPath": "/socket.io/",
        "title": "Larkspur",
        "params": {"storage": "session"},
    }
    direction = "rtl" if lang == "ar" else "ltr"
    return f"""<!doctype html><html lang="{lang}" dir="{direction}"><head><meta charset="utf-8">
<title>rasa-webchat</title></head><body><div id="webchat"></div>
<script src="/webchat/rasa-webchat.js"></script>
<script>WebChat.default({json.dumps(options)}, null);</script></body></html>"""


def serve(page, origin: str, html: str, script: Path) -> str:
    """Answers the page and the package's bundle at ``origin`` (one of the web app's own origins, where the
    web app has no such page) from here; everything else, socket.io included, goes over the network."""
    page.route(f"{origin}/webchat/page.html", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.route(
        f"{origin}/webchat/rasa-webchat.js",
        lambda route: route.fulfill(path=str(script), content_type="application/javascript"),
    )
    return f"{origin}/webchat/page.html"


def texts(page, selector: str) -> list[str]:
    return [" ".join(t.split()) for t in page.locator(selector).all_inner_texts()]


@pytest.mark.parametrize(
    "lang, host, question, greeting_start",
    [
        ("en", "localhost", "how do I track my order", "Hi! I'm Larkspur's virtual assistant"),
        ("ar", "127.0.0.1", "كيف أتتبع طلبي؟", "مرحباً! أنا المساعد الافتراضي"),
    ],
)
def test_rasa_webchat_shows_answers_links_and_quick_replies(bot_servers, browser, lang, host, question, greeting_start):
    if not WEBCHAT.exists():
        pytest.fail(f"{WEBCHAT} is missing: run scripts/bootstrap.sh --dev (installs rasa-webchat from npm)")
    ARTIFACTS.mkdir(exist_ok=True)
    kb = load_knowledge_base(bot_servers.settings.kb_dir, bot_servers.settings.languages)
    related = [kb.get(faq_id, lang).question for faq_id in kb.get("order-tracking", lang).related]
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        origin = f"http://{host}:{bot_servers.settings.web_port}"
        page.goto(serve(page, origin, webchat_page(bot_servers.settings.rasa_url, lang), WEBCHAT))
        page.locator(".rw-launcher").click()
        response = page.locator(".rw-response")
        page.locator(".rw-response", has_text=greeting_start).wait_for(timeout=30_000)  # the plain {text} shape

        page.locator(".rw-new-message").fill(question)
        page.locator(".rw-new-message").press("Enter")
        answer = page.locator(".rw-response", has=page.locator("a[href='https://larkspur.example/order-status']"))
        answer.wait_for(timeout=30_000)
        link = answer.locator("a")
        assert link.get_attribute("target") == "_blank"
        replies = page.locator(".rw-reply")
        replies.first.wait_for(timeout=10_000)
        assert texts(page, ".rw-reply") == related
        page.screenshot(path=str(ARTIFACTS / f"rasa-webchat-{lang}.png"))

        count = response.count()
        replies.first.click()
        page.wait_for_function(
            f"[...document.querySelectorAll('.rw-response')].filter(e => e.innerText.trim()).length > {count}",
            timeout=30_000,
        )
        assert texts(page, ".rw-client")[-1] == related[0]  # the quick reply shows as the customer's message
        shown = texts(page, ".rw-response")[-1]
        first_words = " ".join(kb.get(kb.get("order-tracking", lang).related[0], lang).answer.split()[:3])
        assert first_words.replace("**", "") in shown, shown
        page.screenshot(path=str(ARTIFACTS / f"rasa-webchat-{lang}-reply.png"))
        assert not [e for e in errors if "CORS" in e or "socket" in e.lower()], errors
    finally:
        context.close()
