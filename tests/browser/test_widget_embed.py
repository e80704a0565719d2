"""The widget's one-tag embed on another site, now that widget.js starts native ES modules
(bot/web/static/widget/): every module loads from the other origin (with CORS), nothing fails to load
and nothing is logged as an error; the tags host sites already have keep working; and a conversation
that the one-file widget.js (before the modules) left in a customer's browser goes on.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.settings import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]

MODULES = sorted(p.name for p in (PROJECT_ROOT / "bot" / "web" / "static" / "widget").glob("*.js"))


def page_with(bot, name: str, body: str, head: str = "") -> str:
    """A page of another site (the host site's origin) with `body` and `head` (no favicon to fetch)."""
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Another shop</title>{head}</head>
<body><main><h1>Another shop</h1><p>Plants and pots, delivered.</p></main>
{body}
</body></html>"""
    return bot.host_site.page(name, html)


def tag(bot, attributes: str = "defer") -> str:
    """The one tag the README tells a site to add."""
    return (
        f'<script src="{bot.web_url}/static/widget.js" data-socket-url="{bot.settings.rasa_url}" {attributes}></script>'
    )


class Watched:
    """A page with everything that went wrong on it recorded: console errors and warnings, uncaught
    errors, requests that failed, HTTP errors; and the responses for the widget's modules."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        self.modules: dict[str, Any] = {}
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught {error}"))
        page.on("requestfailed", lambda request: self.problems.append(f"failed {request.url}: {request.failure}"))
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text} ({message.location.get('url')})")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status} {response.url}")
        path = urlsplit(response.url).path
        if path.startswith("/static/widget/"):
            self.modules[path.rsplit("/", 1)[1]] = response


@pytest.fixture
def new_page(browser):
    contexts = []

    def make() -> Watched:
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        contexts.append(context)
        return Watched(context.new_page())

    yield make
    for context in contexts:
        context.close()


def test_one_tag_on_another_origin_loads_every_module_with_cors(bot_servers, new_page):
    watched = new_page()
    page = watched.page
    url = page_with(bot_servers, "modules.html", tag(bot_servers))
    assert urlsplit(url).netloc != urlsplit(bot_servers.web_url).netloc  # really another origin
    page.goto(url)  # the load event waits for the widget, as it did when widget.js was one file
    assert page.get_by_test_id("faqbot-launcher").is_visible()
    assert page.evaluate("typeof io === 'function' && typeof marked === 'object' && typeof DOMPurify === 'function'")

    assert sorted(watched.modules) == MODULES  # each module fetched once, none missing, none left unused
    host_origin = f"http://{urlsplit(url).netloc}"
    for name, response in watched.modules.items():
        assert response.status == 200, name
        assert response.request.headers.get("origin") == host_origin, name  # fetched in CORS mode
        assert response.headers["access-control-allow-origin"] == "*", name
        assert "javascript" in response.headers["content-type"], name

    page.get_by_test_id("faqbot-launcher").click()
    page.get_by_test_id("faqbot-input").fill("how do I return something?")
    page.get_by_test_id("faqbot-send").click()
    answer = page.get_by_test_id("faqbot-msg-bot").first
    answer.wait_for(timeout=30_000)
    assert answer.locator("p, ul, ol, strong, a").count() > 0  # rendered from markdown
    assert page.get_by_test_id("faqbot-vote-up").count() == 1
    assert watched.problems == []


# Tags host sites have today, written for the one-file widget.js: in the head without defer (it runs
# before the body exists), async, at the end of the body, or added later by a tag manager. Each page
# also calls the widget's API as soon as it can, before the widget is on the page.
TAGS = {
    "head": ("", "{tag}<script>FaqbotWidget.open();</script>"),
    "async": ('{tag_async}<script>addEventListener("load", function () {{ FaqbotWidget.open(); }});</script>', ""),
    "end-of-body": ("{tag_plain}<script>FaqbotWidget.open();</script>", ""),
    "tag-manager": (
        """<script>
        var s = document.createElement("script");
        s.src = {src}; s.setAttribute("data-socket-url", {socket});
        document.body.appendChild(s);
        s.onload = function () {{ FaqbotWidget.open(); }};
        </script>""",
        "",
    ),
}


@pytest.mark.parametrize("where", sorted(TAGS))
def test_the_tags_sites_already_have_keep_working(bot_servers, new_page, where):
    body, head = TAGS[where]
    values = {
        "tag": tag(bot_servers, ""),
        "tag_async": tag(bot_servers, "async"),
        "tag_plain": tag(bot_servers, ""),
        "src": json.dumps(f"{bot_servers.web_url}/static/widget.js"),
        "socket": json.dumps(bot_servers.settings.rasa_url),
    }
    watched = new_page()
    page = watched.page
    page.goto(page_with(bot_servers, f"tag-{where}.html", body.format(**values), head.format(**values)))
    page.get_by_test_id("faqbot-panel").wait_for(timeout=15_000)  # opened by the page's early call
    page.wait_for_function("FaqbotWidget.state() && FaqbotWidget.state().ready", timeout=30_000)  # session
    assert page.evaluate("document.activeElement.id") == "faqbot-input"
    assert page.locator("link[href$='/static/widget.css']").count() == 1
    assert page.evaluate("document.querySelectorAll('#faqbot-root').length") == 1
    assert sorted(watched.modules) == MODULES
    assert watched.problems == []


def test_a_conversation_the_one_file_widget_left_goes_on(bot_servers, new_page):
    """What widget.js kept in the browser before it was split into modules (the same keys, the same
    shapes): the session id, the transcript with a rated answer, the open panel, a question queued
    while offline. The modules take it over: the same conversation goes on."""
    first = new_page().page  # a real conversation on the socket.io channel
    first.goto(page_with(bot_servers, "earlier.html", tag(bot_servers)))
    first.get_by_test_id("faqbot-launcher").click()
    first.get_by_test_id("faqbot-input").fill("how do I return something?")
    first.get_by_test_id("faqbot-send").click()
    first.get_by_test_id("faqbot-msg-bot").first.wait_for(timeout=30_000)
    shown = first.get_by_test_id("faqbot-msg-bot").first.inner_text()
    session = first.evaluate("FaqbotWidget.state().sessionId")
    first.context.close()
    (answer,) = [e for e in bot_servers.bot_events(session) if e["metadata"].get("answer_id")]
    queued = "which payment methods do you accept"
    transcript = [
        {"from": "user", "text": "how do I return something?"},
        {
            "from": "bot",
            "text": answer["text"],
            "answer": {"id": answer["metadata"]["answer_id"], "faq": answer["metadata"]["faq_id"], "version": None},
            "vote": "up",
            "voteSent": True,
            "ts": answer["timestamp"],
        },
        {"from": "user", "text": queued},
    ]

    watched = new_page()  # the customer's browser, as the one-file widget left it
    page = watched.page
    page.goto(page_with(bot_servers, "before.html", ""))  # a page of the same site without the widget
    page.evaluate(
        """([session, transcript, outbox]) => {
            localStorage.setItem("faqbot.session_id", session);
            sessionStorage.setItem("faqbot.transcript", JSON.stringify(transcript));
            sessionStorage.setItem("faqbot.open", "1");
            sessionStorage.setItem("faqbot.outbox", JSON.stringify(outbox));
        }""",
        [session, transcript, [{"payload": queued, "display": queued}]],
    )
    page.goto(page_with(bot_servers, "after.html", tag(bot_servers)))

    assert page.get_by_test_id("faqbot-panel").is_visible()  # it was open: it stays open
    assert page.get_by_test_id("faqbot-msg-user").all_inner_texts() == ["how do I return something?", queued]
    assert page.get_by_test_id("faqbot-msg-bot").first.inner_text() == shown
    # The first answer keeps its vote (the queued question's answer may already be in, with its own buttons).
    assert page.get_by_test_id("faqbot-vote-up").first.get_attribute("aria-pressed") == "true"
    # The question queued on the old page goes out in the same conversation and is answered.
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=faqbot-msg-bot]')].some(e => e.innerText.includes('PayPal'))",
        timeout=30_000,
    )
    assert page.evaluate("FaqbotWidget.state()") == {
        "ready": True,
        "offline": False,
        "mode": "bot",
        "unread": 0,
        "sessionId": session,
        "queued": 0,
    }
    said = [(e["text"], e["input_channel"]) for e in bot_servers.tracker(session)["events"] if e["event"] == "user"]
    assert said == [("how do I return something?", "socketio"), (queued, "socketio")]
    assert page.get_by_test_id("faqbot-msg-bot").count() == 2  # nothing shown twice by the catch-up
    assert watched.problems == []


def test_libraries_the_page_loads_itself_after_the_tag_are_not_loaded_again(bot_servers, new_page):
    """widget.js looks for the page's own socket.io, marked and DOMPurify once the body exists, as the
    one-file widget did: a page that loads its copies after the tag gets no second copy."""
    watched = new_page()
    page = watched.page
    asked: list[str] = []
    page.on("request", lambda request: asked.append(urlsplit(request.url).path + "?" + urlsplit(request.url).query))
    vendor = f"{bot_servers.web_url}/static/vendor"
    own = "".join(
        f'<script src="{vendor}/{name}?page-copy"></script>'
        for name in ("socket.io.min.js", "marked.umd.js", "purify.min.js")
    )
    page.goto(page_with(bot_servers, "own-libraries.html", "", tag(bot_servers, "") + own))
    page.get_by_test_id("faqbot-launcher").click()
    page.get_by_test_id("faqbot-input").fill("how do I return something?")
    page.get_by_test_id("faqbot-send").click()
    page.get_by_test_id("faqbot-msg-bot").first.wait_for(timeout=30_000)
    assert page.get_by_test_id("faqbot-msg-bot").first.locator("p, ul, ol, strong, a").count() > 0
    loaded = sorted(path for path in asked if path.startswith("/static/vendor/"))
    assert loaded == [
        "/static/vendor/marked.umd.js?page-copy",
        "/static/vendor/purify.min.js?page-copy",
        "/static/vendor/socket.io.min.js?page-copy",
    ]
    assert watched.problems == []


def test_a_host_page_with_a_content_security_policy_that_allows_the_bot(bot_servers, new_page):
    """A strict policy that names only the host site and the bot's two origins: the modules, their
    preloads, the libraries, the stylesheet, socket.io and the widget API all pass, nothing is blocked."""
    web, rasa = bot_servers.web_url, bot_servers.settings.rasa_url
    websocket = "ws" + rasa.removeprefix("http")  # Chromium: an http: source does not cover ws:
    policy = (
        f"default-src 'none'; script-src 'self' {web}; style-src 'self' {web}; img-src 'self' data:; "
        f"connect-src {web} {rasa} {websocket}; base-uri 'none'; form-action 'none'"
    )
    csp = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    watched = new_page()
    page = watched.page
    page.goto(page_with(bot_servers, "csp.html", tag(bot_servers), csp))
    assert sorted(watched.modules) == MODULES
    page.get_by_test_id("faqbot-launcher").click()
    page.get_by_test_id("faqbot-input").fill("how do I return something?")
    page.get_by_test_id("faqbot-send").click()
    page.get_by_test_id("faqbot-msg-bot").first.wait_for(timeout=30_000)
    assert page.get_by_test_id("faqbot-msg-bot").first.locator("p, ul, ol, strong, a").count() > 0
    page.get_by_test_id("faqbot-vote-up").click()  # the widget API, under connect-src
    # (no wait_for_function here: it evaluates a string, which the policy forbids)
    page.locator("[role=status]", has_text="Thanks for your feedback").wait_for(state="attached", timeout=15_000)
    assert page.evaluate("getComputedStyle(document.getElementById('faqbot-panel')).position") == "fixed"  # styled
    assert watched.problems == []  # a blocked load is a console error
