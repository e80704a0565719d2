"""XSS: OWASP's cheat-sheet payloads pushed through every place that stores customer, agent or
editor text, and every page that shows it rendered in Chromium as the user who reads it.

The payloads (tests/browser/xss_corpus.py) go in the way the text really arrives:
customer messages over Rasa's REST webhook and through the widget's socket.io,
the handoff form's name and email, customer fields from the host page
(``customData``) and from message metadata, "leave a message" (name, message,
the widget's own transcript), agents' replies and internal notes typed on the
desk, an agent's display name, a rating comment, FAQs written in the web
editor (question, alternates, answer, a tag). Each page that shows them is
then opened as the right user (agent, editor, admin, the customer in the
widget) and must show no dialog, set no marker (``window.__xss``, a title with
"XSS"), fetch no ``zqprobe`` URL, throw nothing, log no console error about a
payload and carry no event-handler attribute, script URL or active element
(iframe, object, base, SVG animation, MathML...) anywhere in its DOM. The text
must still be there, as text: verbatim where the page shows text as typed,
each message's first line where it is rendered as markdown (the widget's bot
bubbles, the editor's preview), so a page cannot pass by showing nothing.

Payloads go in batches (a message holds a few dozen of them, one a line) to
keep the number of page loads and bot turns small.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import random
import re
import string
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from bot.redact import redactor_for
from tests.browser.conftest import ARTIFACTS
from tests.browser.xss_corpus import MARKDOWN, PAYLOADS, PROBE, chunks
from tests.servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PASSWORD = "xss test password"
#: Characters per batch of payloads: well under the bot's message limit (5,000).
BATCH = 2000
#: After the last wait, how long a page gets for payloads that run late (image errors, animations, focus).
SETTLE_MS = 600
#: Markdown payloads whose text "<id> click" shows whether or not a link survives.
MARKDOWN_LINK_TEXTS = [f"{p.id} click" for p in PAYLOADS if p.source == MARKDOWN and f"{p.id} click" in p.text]

# What a customer, a host page or an agent can put in the short fields.
# (regex literals, not quotes, inside the handlers: valid inline HTML for markdown, which would otherwise escape it)
NAME = "Zoe <img src=zqprobe onerror=alert(/zqname/)>"  # refused as a name (no markup), echoed as typed
#: What a name may be (letters, apostrophes, hyphens, dots): quote-breaking still.
PLAIN_NAME = "Zoë O'Brien-Smith"
BAD_EMAIL = '"><svg onload=alert(/zqbadmail/)>'  # refused, and echoed by the bot
EMAIL = "zq'-alert`zqmail`-'@example.com"  # a valid address made of quote-breaking characters
CUSTOMER_ID = "\"><script>alert('zqcid')</script>"
PAGE_URL = "javascript:alert('zqurl')//\"><img src=zqprobe onerror=alert('zqurl')>"
AGENT_NAME = "Ann <img src=zqprobe onerror=alert(/zqagent/)>"
TITLE = "Help <img src=zqprobe onerror=alert(/zqtitle/)>"  # the widget's heading, from the host page
COMMENT = "Great help, thank you! <img src=zqprobe onerror=alert(/zqcomment/)> \"><script>alert('zqc2')</script>"

# FAQs an editor writes: payloads in the questions, an alternate each, the answers and (refused) a tag.
QUESTIONS = (
    "How do I wax my walnut tabletop? <img src=zqprobe onerror=alert('zqq1')>",
    "How do I oil my walnut tabletop? </textarea><script>alert('zqq2')</script>",
)
ALTERNATES = (
    "wax a walnut table \\\"><svg onload=alert('zqalt1')>",  # (in a double-quoted YAML string)
    "oil a walnut table '><img src=zqprobe onerror=alert('zqalt2')>",
)
ANSWERS = (
    "\n".join(["zqanswer-1", *(p.text for p in PAYLOADS[: len(PAYLOADS) // 2])]),
    "\n".join(["zqanswer-2", *(p.text for p in PAYLOADS[len(PAYLOADS) // 2 :])]),
)
BAD_TAG = "<svg/onload=alert(/zqtag/)>"
#: A question the bot answers with "did you mean" and both FAQs (measured on the demo KB plus these two).
CLARIFIED = "how do I care for my walnut tabletop"
MARKDOWN_TEXTS = [p.text for p in PAYLOADS if p.source == MARKDOWN]


def faq_file(tag: str = "care") -> str:
    ids = ("zz-xss-walnut-wax", "zz-xss-walnut-oil")
    extra = ("polish a walnut tabletop with wax", "treat a walnut tabletop with oil")
    blocks = [
        f'## {question}\n```yaml\nid: {faq_id}\ntags: ["{tag if n == 0 else "care"}"]\nalternates:\n'
        f'  - "{alternate}"\n  - {more}\n```\n\n{answer}\n'
        for n, (question, faq_id, alternate, more, answer) in enumerate(
            zip(QUESTIONS, ids, ALTERNATES, extra, ANSWERS, strict=True)
        )
    ]
    return "# Walnut care\n\n" + "\n".join(blocks)


AUDIT = r"""() => {
  const found = [];
  const show = (el) => el.outerHTML.slice(0, 200);
  const URL_ATTRS = ["href", "src", "action", "formaction", "xlink:href", "data", "background", "dynsrc", "lowsrc",
                     "poster", "codebase", "cite", "longdesc", "ping", "srcset", "values", "from", "to", "by"];
  const ACTIVE = new Set(["iframe", "frame", "frameset", "object", "embed", "applet", "base", "bgsound", "math",
    "animate", "set", "animatetransform", "animatemotion", "foreignobject", "details", "marquee", "video", "audio",
    "source", "xmp", "noscript", "meta", "link", "style", "isindex", "keygen", "portal", "template"]);
  // A payload's URL has zqprobe in its path; a link of the page may carry payload text in its query.
  const probeUrl = (value) => {
    try {
      return /zqprobe/i.test(new URL(value, location.href).pathname);
    } catch (e) {
      return /zqprobe/i.test(value);
    }
  };
  const scriptUrl = (value) => /^(javascript|vbscript|livescript|data):/i.test(
    value.replace(/[\u0000-\u0020\u007f-\u00a0\u200b-\u200f\u2028\u2029\ufeff]/g, ""));
  for (const el of document.querySelectorAll("*")) {
    const tag = el.localName.toLowerCase();
    for (const attr of Array.from(el.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) found.push(`event handler ${name}: ${show(el)}`);
      else if (name === "srcdoc") found.push(`srcdoc: ${show(el)}`);
      else if (URL_ATTRS.includes(name) && scriptUrl(attr.value)
               && !(tag === "img" && /^data:image\/(png|gif|jpeg|webp);/i.test(attr.value))) {
        found.push(`script URL in ${name}: ${show(el)}`);
      } else if (URL_ATTRS.includes(name) && probeUrl(attr.value)) {
        found.push(`probe URL in ${name}: ${show(el)}`);
      } else if (name === "style" && /expression\s*\(|script:|zqprobe/i.test(attr.value)) {
        found.push(`style: ${show(el)}`);
      }
    }
    if (ACTIVE.has(tag) && el.closest("body")) found.push(`<${tag}> in the page: ${show(el)}`);
    if (tag === "meta" && el.hasAttribute("http-equiv")) found.push(`meta http-equiv: ${show(el)}`);
    if (tag === "script" && !el.hasAttribute("src") && el.type !== "application/json"
        && !/^\s*window\.faqbotConfig = /.test(el.textContent)) found.push(`inline script: ${show(el)}`);
  }
  return {
    found,
    marker: window.__xss === undefined ? null : String(window.__xss),
    title: document.title,
    text: document.body ? document.body.innerText : "",
  };
}"""


def norm(text: str) -> str:
    """Text as a browser lays it out: runs of white space are one space (line and paragraph
    separators count: the KB parser makes them line breaks)."""
    return re.sub(r"[ \t\n\r\f\u2028\u2029]+", " ", text).strip()


def first_lines(messages: Iterable[str]) -> list[str]:
    return [m.split("\n", 1)[0] for m in messages]


class Watched:
    """A page with listeners for everything a payload that ran would leave behind."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.console: list[str] = []
        self.probes: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and self.console.append(message.text))
        # (in the path: a page's own link may carry payload text in its query, as a draft's file name)
        page.on("request", lambda request: PROBE in urlsplit(request.url).path and self.probes.append(request.url))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}({dialog.message!r})")
        dialog.dismiss()

    def harmless(self, where: str, shows: Iterable[str] = (), screenshot: str | None = None) -> str:
        """Fail unless nothing ran and every text of ``shows`` is on the page as text; returns the page's text."""
        self.page.wait_for_timeout(SETTLE_MS)
        state = self.page.evaluate(AUDIT)
        if screenshot:
            ARTIFACTS.mkdir(exist_ok=True)
            self.page.screenshot(path=str(ARTIFACTS / f"xss-{screenshot}.png"))
        text = norm(state["text"])
        payload_console = [m for m in self.console if re.search(r"zq|xss|script:", m, re.IGNORECASE)]
        problems = [
            *(f"dialog {d}" for d in self.dialogs),
            *(f"uncaught error {e}" for e in self.errors),
            *(f"console error {m}" for m in payload_console),
            *(f"fetched {url}" for url in self.probes),
            *state["found"],
        ]
        if state["marker"] is not None:
            problems.append(f"window.__xss = {state['marker']}")
        if "XSS" in state["title"]:
            problems.append(f"document.title = {state['title']!r}")
        assert not problems, f"{where}: a payload ran or was injected:\n" + "\n".join(problems[:40])
        missing = [s for s in shows if norm(s) not in text]
        assert not missing, f"{where}: not shown as text ({len(missing)}):\n" + "\n".join(missing[:10])
        return text


@pytest.fixture
def pages(bot, browser):
    """Opens watched pages in fresh browser contexts (signed in as a desk user, or anonymous)."""
    contexts = []

    def open_page(session: requests.Session | None = None, init_script: str | None = None, **options: Any) -> Watched:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(**options)
        contexts.append(context)
        if session is not None:
            context.add_cookies([{"name": c.name, "value": c.value, "url": bot.web_url} for c in session.cookies])
        if init_script:
            context.add_init_script(init_script)
        return Watched(context.new_page())

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def bot(bot_servers):
    """The running bot of the test session (tests/servers.py)."""
    return bot_servers


def staff(bot, username: str, role: str, display_name: str | None = None) -> requests.Session:
    """A signed-in desk user (agents and admins get the desk's CSRF header too)."""
    bot.add_user(username, PASSWORD, role=role, name=display_name or username.title())
    if role != "editor":
        return bot.desk_session(username, PASSWORD, role=role)
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(f"{bot.web_url}/login", timeout=10).text)
    assert token
    form = {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    assert "/login" not in session.post(f"{bot.web_url}/login", data=form, timeout=10).url, "sign-in failed"
    return session


# ------------------------------------------------------------------ talking to the bot


@dataclasses.dataclass
class RestCustomer:
    """A customer on Rasa's REST webhook, who also chooses the conversation id, the channel name and the
    metadata fields (as an integration calling the webhook does)."""

    bot: Any
    sender: str
    channel: str = "rest"
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def say(self, text: str) -> list[dict[str, Any]]:
        body = {"sender": self.sender, "message": text, "input_channel": self.channel, "metadata": self.metadata}
        response = requests.post(f"{self.bot.settings.rasa_url}/webhooks/rest/webhook", json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def form_slot(self) -> str | None:
        return self.bot.tracker(self.sender)["slots"].get("requested_slot")

    def before_handoff(self, messages: list[str]) -> None:
        """Each message as a question; when the bot starts the handoff form before the last, the customer
        backs out, so every message is in the conversation the ticket will copy."""
        for index, message in enumerate(messages):
            self.say(message)
            if self.form_slot() and index < len(messages) - 1:
                self.say("/cancel_handoff")
                assert not self.form_slot()

    def hand_off(self) -> str:
        """The handoff form through to the ticket: a payload for a name, a refused payload then a valid email."""
        if not self.form_slot():
            self.say("I want to talk to a human")
        said: list[str] = []
        answers = {
            "customer_name": [NAME, PLAIN_NAME],  # the payload, then a name the form takes
            "customer_email": [BAD_EMAIL, EMAIL],
            "order_number": ["LK-123456"],
        }
        for _ in range(6):
            slot = self.form_slot()
            if slot is None:
                break
            assert slot in answers and answers[slot], f"the form asks for {slot} again: {said}"
            said += [r.get("text", "") for r in self.say(answers[slot].pop(0))]
        number = re.search(r"T-\d{6}", " ".join(said))
        assert number, said
        return number.group(0)

    def while_waiting(self, messages: list[str], ticket_id: int) -> None:
        """Messages while people own the conversation: the bot is silent, the desk gets each one."""
        store = self.bot.store()

        def from_customer() -> int:
            return len([m for m in store.messages(ticket_id) if m.role == "customer"])

        before = from_customer()
        for message in messages:
            assert self.say(message) == []
        self.bot.wait_for(lambda: from_customer() >= before + len(messages), what="the customer's messages")


def letters(n: int = 8) -> str:
    """Random lower-case letters (digits in an id could be masked as a phone number on the dashboard)."""
    return "".join(random.choice(string.ascii_lowercase) for _ in range(n))


def wait_until_answered(bot, question: str, faq_id: str | None) -> None:
    """Until the bot answers ``question`` with ``faq_id`` (None: with none of this test's FAQs)."""

    def answered() -> bool:
        sender = f"xssask{uuid.uuid4().hex[:8]}x"
        bot.say(sender, question)
        ids = {(e.get("metadata") or {}).get("faq_id") for e in bot.bot_events(sender)}
        return faq_id in ids if faq_id else not any(str(i).startswith("zz-xss-") for i in ids)

    bot.wait_for(answered, timeout=60, what=f"the bot answering with {faq_id}")


def since(started: float) -> str:
    """A ``since=`` query parameter: conversations from this test on."""
    return "since=" + quote(datetime.datetime.fromtimestamp(started - 1, datetime.timezone.utc).isoformat())


# ------------------------------------------------------------------ the tests


def test_customer_agent_and_rating_text_on_the_desk_dashboard_and_inbox(bot, pages):
    """REST customer (messages, form answers, metadata fields, its own conversation id and channel name),
    agent replies and notes typed on the desk, messages arriving live, a rating comment, a draft FAQ made
    from the answer; then the desk queue and ticket, the dashboard's list, transcript and numbers, and
    the editors' inbox of unanswered questions and the draft."""
    started = time.time()
    customer = RestCustomer(
        bot,
        # (only characters Rasa's HTTP API takes in a path unescaped: it does not decode %-escapes there)
        sender=f"zqs{letters()}'-alert('zqsender')-'",
        channel='rest"><img src=x onerror=alert(/zqchannel/)>',  # the dashboard's filter links carry it
        metadata={"page_url": PAGE_URL, "customer_id": CUSTOMER_ID},
    )
    early = chunks(PAYLOADS, BATCH, "zqearly")
    customer.before_handoff(early)
    number = customer.hand_off()
    ticket = bot.store().by_number(number)
    assert ticket.customer["customer_name"] in (NAME, PLAIN_NAME) and ticket.customer["customer_email"] == EMAIL
    assert ticket.customer["customer_id"] == CUSTOMER_ID and ticket.customer["page_url"] == PAGE_URL
    waiting = chunks(PAYLOADS, BATCH, "zqwait")
    customer.while_waiting(waiting, int(ticket.id))

    agent = staff(bot, "xss-ann", "agent", AGENT_NAME)
    queue = pages(agent)
    queue.page.goto(f"{bot.web_url}/desk/")
    queue.page.wait_for_selector("#live-status:text('Live')", timeout=15_000)
    item = queue.page.locator("[data-list=waiting] .queue-item", has_text=number)
    item.wait_for(timeout=15_000)  # drawn by desk.js from the live queue
    name = ticket.customer["customer_name"]
    queue.harmless("desk queue", [number, name, ticket.question, customer.channel], screenshot="desk-queue")

    desk = pages(agent)
    desk.page.goto(f"{bot.web_url}/desk/tickets/{ticket.id}")
    desk.page.wait_for_selector("#transcript [data-message-id]")
    everything_so_far = [
        *early,
        *waiting,
        NAME,
        BAD_EMAIL,
        *ticket.customer.values(),
        customer.sender,
        customer.channel,
    ]
    desk.harmless("desk ticket (server-rendered transcript, messages drawn by desk.js)", everything_so_far)

    # The agent claims and types replies and notes; the customer writes while the page is open.
    desk.page.click("#claim")
    desk.page.wait_for_selector("#send:enabled", timeout=15_000)
    replies, notes = chunks(PAYLOADS, BATCH, "zqreply"), chunks(PAYLOADS, BATCH, "zqnote")
    for text, button in [*((r, "#send") for r in replies), *((n, "#add-note") for n in notes)]:
        desk_types(desk, text, button)
    live = chunks(PAYLOADS, BATCH, "zqlive")
    customer.while_waiting(live, int(ticket.id))
    last = live[-1].split("\n", 1)[0]
    desk.page.locator("#transcript li.customer", has_text=last).wait_for(timeout=15_000)  # over server-sent events
    desk.page.wait_for_selector("#transcript .delivery:text('delivered')", timeout=30_000)
    # Replies in the chat are markdown, shown as the widget renders them (as the widget's own check: their
    # first lines); notes and the customer's messages are text as typed.
    desk.harmless("desk ticket after replies, notes and live messages", [*first_lines(replies), *notes, *live])

    # Resolved; the customer rates with a comment; the page shows it live, then after a reload.
    desk.page.click("#resolve")
    bot.wait_for(
        lambda: any(
            (e.get("metadata") or {}).get("utter_action") == "utter_ask_csat" for e in bot.bot_events(customer.sender)
        ),
        what="the rating question",
    )
    customer.say('/csat{"csat_score": "4"}')
    customer.say(COMMENT)
    assert bot.store().get(int(ticket.id)).rating_comment == COMMENT
    desk.page.wait_for_selector("#rating:has-text('4/5')", timeout=15_000)  # live: the score (not the comment)
    desk.harmless("desk ticket with the rating (live)")
    desk.page.reload()
    desk.page.wait_for_selector("#transcript [data-message-id]")
    desk.harmless(
        "desk ticket, reloaded",
        [*everything_so_far, *first_lines(replies), *notes, *live, COMMENT],
        screenshot="desk-ticket",
    )
    # The agent turns the answer into a draft FAQ: the customer's question and the replies go to the editors.
    desk.page.click("#draft-faq")
    desk.page.wait_for_selector("#loop-result:has-text('Draft written')")
    draft = bot.settings.kb_dir.parent / desk.page.inner_text("#loop-result").split(": ", 1)[1]
    desk.harmless("desk ticket, draft written")

    # The operator: the list of conversations, the transcript (redacted), the numbers page.
    admin = staff(bot, "xss-olga", "admin")
    redact = redactor_for(bot.settings)
    board = pages(admin)
    channel = "channel=" + quote(customer.channel, safe="")
    board.page.goto(f"{bot.web_url}/admin/conversations?metric=conversations&{channel}&{since(started)}")
    row = board.page.locator("tr[data-conversation]", has_text=number)
    row.wait_for()
    board.harmless("dashboard conversations", [redact(customer.sender), customer.channel, number])
    row.locator("a.transcript-link").click()
    board.page.wait_for_selector("ol.transcript")
    board.harmless(
        "dashboard transcript",
        [redact(t) for t in [customer.sender, *early, *waiting, *live, NAME, BAD_EMAIL, COMMENT]],
        screenshot="dashboard-transcript",
    )
    board.page.goto(f"{bot.web_url}/admin/dashboard?{channel}&{since(started)}")
    board.page.wait_for_selector("#numbers")
    text = board.harmless("dashboard")
    assert any(line in text for line in first_lines(early)), "no payload question among the unanswered"

    # The editors: the inbox of questions the bot could not answer, the draft from the agent's answer.
    editor = pages(staff(bot, "xss-eve", "editor"))
    try:
        editor.page.goto(f"{bot.web_url}/editor/inbox?since=1d")
        editor.page.wait_for_selector("#editor-inbox")
        text = editor.harmless("editor inbox", screenshot="editor-inbox")
        assert any(line in text for line in first_lines(early)), "no payload question in the inbox"
        editor.page.goto(f"{bot.web_url}/editor/")
        editor.page.click(f"a[href*='{draft.name}']")
        editor.page.wait_for_selector("#preview article .answer")
        editor.harmless("editor: the draft", [ticket.question, *first_lines(replies)], screenshot="editor-draft")
    finally:
        draft.unlink(missing_ok=True)


def host_page(
    bot, name: str, *, socket_url: str | None = None, config: dict | None = None, offline_after: int = 0
) -> str:
    """A page of another site embedding the widget with its one tag (and the signed-in customer's fields)."""
    attrs = f'data-socket-url="{socket_url or bot.settings.rasa_url}"'
    if offline_after:
        attrs += f' data-offline-after="{offline_after}"'
    # (as a careful site writes JSON into a script: "<" escaped, so a "</script>" in a value stays in the string)
    script_json = json.dumps(config).replace("<", "\\u003c")
    setup = f"<script>window.faqbotConfig = {script_json};</script>" if config else ""
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another shop</title></head>
<body><main><h1>Another shop</h1><p>Plants and pots, delivered.</p></main>
{setup}
<script src="{bot.web_url}/static/widget.js" {attrs} defer></script>
</body></html>"""
    return bot.host_site.page(name, html)


def widget_says(watched: Watched, text: str) -> None:
    """The customer types ``text`` into the widget and sends it (waits until it is on screen)."""
    page = watched.page
    count = page.get_by_test_id("faqbot-msg-user").count()
    page.get_by_test_id("faqbot-input").fill(text)
    page.get_by_test_id("faqbot-send").click()
    page.wait_for_function(f"document.querySelectorAll('[data-testid=faqbot-msg-user]').length > {count}")


def bot_bubble(watched: Watched, text: str, timeout: float = 30_000) -> None:
    watched.page.locator("[data-testid=faqbot-msg-bot]", has_text=text).last.wait_for(timeout=timeout)


def desk_types(watched: Watched, text: str, button: str = "#send") -> None:
    """The agent types ``text`` on the ticket page and sends it (past the desk's warning about HTML:
    the customer is to see it as typed) or adds it as a note; waits until the transcript shows it."""
    page = watched.page
    count = page.locator("#transcript [data-message-id]").count()
    page.fill("#reply-text", text)
    page.click(button)
    if button == "#send" and page.locator("#reply-warning-again").is_visible():
        assert page.inner_text("#reply-warning-tag").startswith("<")
        watched.harmless("desk: the warning about HTML in a reply")
        page.click("#send")
    page.wait_for_function(f"document.querySelectorAll('#transcript [data-message-id]').length > {count}")


def test_widget_customer_agent_replies_rating_and_the_widgets_history(bot, pages):
    """The widget over socket.io: customer fields from the host page, payload messages, the bot echoing
    the name, agents' replies (rendered as markdown in the widget), the rating comment; the same
    conversation after a reload and in a new tab (read back through the widget API); then the desk."""
    shop = pages()
    # The page address ends up on the ticket as the browser spells it (it escapes <, > and quotes).
    shop.page.goto(
        host_page(bot, "xss-widget.html", config={"customer": {"name": NAME, "email": EMAIL, "id": CUSTOMER_ID}})
        + "?q=\"><img src=x onerror=alert('zqquery')>#<svg onload=alert('zqhash')>"
    )
    page_url = shop.page.evaluate("location.href")
    shop.page.get_by_test_id("faqbot-launcher").click()
    said = chunks(PAYLOADS, BATCH, "zqwidget")
    for text in said:
        widget_says(shop, text)
    session = shop.page.evaluate("FaqbotWidget.state().sessionId")
    bot.wait_for(
        lambda: len([e for e in bot.tracker(session)["events"] if e["event"] == "user"]) >= len(said),
        what="every message in the conversation",
    )

    def state() -> str:
        """Where the conversation is: "ticket", the field the handoff form waits for, or "bot"."""
        if bot.store().for_conversation(session):
            return "ticket"
        return str(bot.tracker(session)["slots"].get("requested_slot") or "bot")

    # Two unanswered questions hand the customer over; the form asks only what the page did not give
    # (or what it refused): answered here, with plain values.
    form = {"customer_name": PLAIN_NAME, "customer_email": EMAIL, "order_number": "LK-123456"}
    for _ in range(4):
        now = state()
        if now == "ticket":
            break
        if now in form:
            widget_says(shop, form.pop(now))
        else:
            shop.page.get_by_test_id("faqbot-human").click()
        bot.wait_for(lambda was=now: state() != was, what=f"the conversation to move on from {now}")
    (ticket,) = bot.store().for_conversation(session)
    assert ticket.customer.get("customer_name") in (NAME, PLAIN_NAME) and ticket.customer["customer_id"] == CUSTOMER_ID
    bot_bubble(shop, ticket.number)  # "Thank you, <the name>. ... your ticket number is ..."
    shop.harmless("widget: the customer's messages and the bot's replies", said)

    # An agent (with a payload for a display name) replies; the widget renders each reply as markdown.
    agent = staff(bot, "xss-bea", "agent", AGENT_NAME)
    base = f"{bot.web_url}/desk/tickets/{ticket.id}"
    assert agent.post(f"{base}/claim", timeout=10).ok
    replies = [*chunks(PAYLOADS, BATCH, "zqagentreply"), "zqmarkdown\n\n" + "\n\n".join(MARKDOWN_TEXTS)]
    for text in replies:
        assert agent.post(f"{base}/reply", json={"text": text}, timeout=10).status_code == 201
    for line in first_lines(replies):
        bot_bubble(shop, line)
    shop.harmless(
        "widget: agents' replies", [*said, *first_lines(replies), *MARKDOWN_LINK_TEXTS], screenshot="widget-replies"
    )

    # Resolved: the customer rates and comments in the widget.
    assert agent.post(f"{base}/resolve", timeout=10).ok
    bot_bubble(shop, "How happy are you")
    shop.page.get_by_role("button", name="4", exact=True).last.click()
    bot_bubble(shop, "Anything you'd like to tell us")
    widget_says(shop, COMMENT)
    bot_bubble(shop, "Thank you for your feedback")
    assert bot.store().get(int(ticket.id)).rating_comment == COMMENT
    everything = [*said, COMMENT]
    shop.harmless("widget: rated", [*everything, *first_lines(replies)], screenshot="widget")

    # A reload shows the tab's copy of the conversation; a new tab reads it back from the web app.
    shop.page.reload()
    shop.page.get_by_test_id("faqbot-msg-bot").first.wait_for(state="attached", timeout=15_000)
    if not shop.page.get_by_test_id("faqbot-panel").is_visible():
        shop.page.get_by_test_id("faqbot-launcher").click()
    shop.harmless("widget: reloaded", [*everything, *first_lines(replies)])
    tab = pages(init_script=f"localStorage.setItem('faqbot.session_id', {json.dumps(session)})")
    tab.page.goto(host_page(bot, "xss-widget-2.html"))
    tab.page.get_by_test_id("faqbot-launcher").click()
    tab.page.wait_for_function(
        f"document.querySelectorAll('[data-testid=faqbot-msg-user]').length >= {len(everything)}", timeout=15_000
    )
    bot_bubble(tab, first_lines(replies)[-1])
    tab.harmless("widget: history in a new tab", [*everything, *first_lines(replies)], screenshot="widget-history")

    # The desk: what the host page said about the customer, the conversation, the rating.
    desk = pages(agent)
    desk.page.goto(base)
    desk.page.wait_for_selector("#transcript [data-message-id]")
    desk.harmless(
        "desk ticket of the widget conversation",
        [*ticket.customer.values(), page_url, *said, *first_lines(replies), *MARKDOWN_LINK_TEXTS, COMMENT],
        screenshot="desk-widget-ticket",
    )


def test_leave_a_message_and_the_widgets_own_transcript(bot, pages):
    """The widget cannot reach the bot: it shows the conversation it kept in the tab (the customer's and
    the bot's entries full of payloads), the customer leaves a message (the name and id from the host
    page, the message typed while offline); the desk shows the ticket."""
    kept_user, kept_bot = chunks(PAYLOADS, BATCH, "zqkeptuser"), chunks(PAYLOADS, BATCH, "zqkeptbot")
    kept = json.dumps([{"from": "user", "text": t} for t in kept_user] + [{"from": "bot", "text": t} for t in kept_bot])
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the bot is unreachable
    # A name the widget API takes: a refused one would cost a second message of the five an address
    # may leave in ten minutes, which the whole test session shares.
    config = {"customer": {"name": PLAIN_NAME, "email": EMAIL, "id": CUSTOMER_ID}, "title": TITLE}
    shop = pages(init_script=f"sessionStorage.setItem('faqbot.transcript', {json.dumps(kept)})")
    shop.page.goto(host_page(bot, "xss-offline.html", socket_url=dead, config=config, offline_after=3))
    page_url = shop.page.evaluate("location.href")
    shop.page.get_by_test_id("faqbot-launcher").click()
    for line in first_lines(kept_bot):
        bot_bubble(shop, line)
    shop.harmless("widget: the conversation kept in the tab", [TITLE, *kept_user, *first_lines(kept_bot)])

    typed = chunks(PAYLOADS, BATCH, "zqleft")[:2]  # two messages while offline: the form takes both
    for text in typed:
        widget_says(shop, text)
    message = "\n".join(typed)
    shop.page.get_by_test_id("faqbot-offline").wait_for(timeout=15_000)
    assert shop.page.locator("#faqbot-offline-name").input_value() == PLAIN_NAME
    assert norm(shop.page.locator("#faqbot-offline-message").input_value()) == norm(message)
    shop.page.locator("form.fb-offline-form button[type=submit]").click()
    notice = shop.page.get_by_test_id("faqbot-notice")
    notice.wait_for(timeout=15_000)
    number = re.search(r"T-\d{6}", notice.inner_text()).group(0)
    shop.harmless("widget: message left", [*kept_user, message, number], screenshot="widget-left-message")

    ticket = bot.store().by_number(number)
    assert norm(ticket.question) == norm(message) and ticket.customer["customer_name"] == PLAIN_NAME
    desk = pages(staff(bot, "xss-ann", "agent", AGENT_NAME))
    desk.page.goto(f"{bot.web_url}/desk/tickets/{ticket.id}")
    desk.page.wait_for_selector("#desk-ticket")
    # The widget's copy of the conversation is the customer's word: the desk may leave it out or mark it
    # (never run it); when it shows the customer's entries, they are all there as typed.
    shown = [*ticket.customer.values(), page_url, message]
    if "zqkeptuser-1" in desk.harmless("desk ticket of a left message", shown):
        shown += kept_user
        desk.harmless("desk ticket of a left message, the widget's copy", shown)

    # The agent answers by email (the way for a left message): the desk follows each email to "sent",
    # and the HTML part of each email, opened in the browser, shows the payloads as text.
    desk.page.click("#claim")
    desk.page.wait_for_selector("#send:enabled", timeout=15_000)
    replies = chunks(PAYLOADS, BATCH, "zqemail")
    for text in replies:
        desk_types(desk, text)
    desk.page.wait_for_function(
        f"document.querySelectorAll('#transcript .delivery.state-sent').length === {len(replies)}", timeout=30_000
    )
    desk.harmless("desk ticket, replies sent by email", [*shown, *replies], "desk-left-message")
    emails = bot.mailbox.for_ticket(number)
    assert len(emails) == len(replies)
    mail = pages()
    name = [ticket.customer["customer_name"]] if ticket.customer.get("customer_name") else []
    for n, (sent, reply) in enumerate(zip(emails, replies, strict=True)):
        html = sent.get_body(preferencelist=("html",))
        assert html is not None, "the email has no HTML part"
        mail.page.set_content(html.get_content())
        mail.harmless(f"HTML email {n + 1}", [*name, reply, message], screenshot=None if n else "email")


def test_faq_text_from_the_editor_in_the_editor_the_widget_and_the_desk(bot, pages):
    """An editor writes FAQs with payloads in the question, alternates, answer and a tag; the editor's
    checks, preview, list, "try a question", reopened file and reload errors, the widget's answer and
    "did you mean" buttons and the desk's knowledge-base search show them as text."""
    path, broken = bot.settings.kb_dir / "en" / "zz-xss.md", bot.settings.kb_dir / "en" / "zz-xss-broken.md"
    assert not path.exists()
    editor = pages(staff(bot, "xss-eve", "editor"))
    try:
        editor.page.goto(f"{bot.web_url}/editor/edit?file=en/zz-xss.md")
        editor.page.wait_for_selector("#editor-edit")
        editor.page.click("#tab-raw")
        editor.page.fill("#source", faq_file(tag=BAD_TAG))  # a tag that is not a slug: refused, named
        editor.page.wait_for_selector("#problems li.error")
        editor.page.click("#save")
        editor.page.wait_for_selector("#save-status:has-text('nothing was saved')")
        editor.harmless("editor checks", [BAD_TAG])
        assert not path.exists()

        text = faq_file()
        editor.page.fill("#source", text)
        # The answers' raw HTML is named by the checks (a warning: the widget shows it as typed text).
        editor.page.wait_for_function(
            "!document.querySelector('#problems li.error') && !!document.querySelector('#problems li.warning')"
        )
        assert "raw HTML" in editor.page.inner_text("#problems")
        editor.page.wait_for_selector("#preview article[data-faq=zz-xss-walnut-oil] .answer")
        editor.harmless(
            "editor preview", [QUESTIONS[0], QUESTIONS[1], "zqanswer-1", "zqanswer-2", *MARKDOWN_LINK_TEXTS]
        )
        editor.page.click("#save")
        editor.page.wait_for_selector("#save-status:has-text('Saved')")
        editor.page.reload()  # the file comes back inside the page's <textarea> and the form's inputs
        editor.page.wait_for_selector("#preview article[data-faq=zz-xss-walnut-oil] .answer")
        editor.page.wait_for_selector(".faq-form[data-faq=zz-xss-walnut-oil]")
        assert editor.page.input_value("#source") == text
        editor.harmless("editor, the saved file reopened", [QUESTIONS[0], QUESTIONS[1]], screenshot="editor-preview")
        wait_until_answered(bot, "how do I wax my walnut tabletop", "zz-xss-walnut-wax")

        editor.page.goto(f"{bot.web_url}/editor/?q=walnut")
        editor.page.wait_for_selector("tr[data-faq=zz-xss-walnut-wax]")
        editor.page.fill("#try-q", CLARIFIED)
        editor.page.click("#try-form button")
        editor.page.wait_for_selector("#try-result li[data-faq=zz-xss-walnut-wax]")
        editor.harmless("editor list and try a question", [QUESTIONS[0], QUESTIONS[1]], screenshot="editor-list")

        # A broken file that arrived another way (an import, a git pull): the list says why it is not live.
        broken.write_text(faq_file(tag=BAD_TAG).replace("zz-xss-walnut", "zz-xss-broken"), encoding="utf-8")

        def list_says(selector: str) -> bool:
            editor.page.goto(f"{bot.web_url}/editor/?q=walnut")
            return editor.page.locator(selector).count() > 0

        bot.wait_for(lambda: list_says("#reload-error"), what="the reload error in the editor's list")
        editor.harmless("editor list, the last edit not live", [BAD_TAG])
        broken.unlink()
        bot.wait_for(lambda: list_says("#reload-ok"), what="the knowledge base live again")

        # The customer: an answer, and "did you mean" with both questions as buttons.
        shop = pages()
        shop.page.goto(host_page(bot, "xss-faq.html"))
        shop.page.get_by_test_id("faqbot-launcher").click()
        widget_says(shop, "how do I wax my walnut tabletop")
        bot_bubble(shop, "zqanswer-1")
        widget_says(shop, CLARIFIED)
        for question in QUESTIONS:
            shop.page.locator("[data-testid=faqbot-button]", has_text=question).wait_for(timeout=30_000)
        shop.page.locator("[data-testid=faqbot-button]", has_text=QUESTIONS[1]).click()
        bot_bubble(shop, "zqanswer-2")
        shop.harmless("widget: FAQ answers and did-you-mean", ["zqanswer-1", "zqanswer-2", *QUESTIONS], "widget-faq")

        # The agent's knowledge-base search on a ticket.
        sender = f"xsskb{uuid.uuid4().hex[:8]}x"
        bot.say(sender, "I want to talk to a human")
        bot.say(sender, "Kim Lee")
        bot.say(sender, "kim@example.com")
        (ticket,) = bot.store().for_conversation(sender)
        desk = pages(staff(bot, "xss-ann", "agent", AGENT_NAME))
        desk.page.goto(f"{bot.web_url}/desk/tickets/{ticket.id}")
        desk.page.fill("#kb-query", "walnut tabletop")
        desk.page.click("#kb-search-form button")
        desk.page.locator("#kb-results li strong", has_text=QUESTIONS[1]).wait_for(timeout=15_000)
        desk.harmless("desk knowledge-base search", [*QUESTIONS, *ANSWERS], screenshot="desk-kb-search")
    finally:
        path.unlink(missing_ok=True)
        broken.unlink(missing_ok=True)
        wait_until_answered(bot, "how do I wax my walnut tabletop", None)


REFLECTED = "\"><img src=x onerror=alert('zqreflect')>"  # in links the page makes: no probe URL


def test_query_parameters_and_a_failed_sign_in_come_back_as_text(bot, pages):
    """Not stored, but echoed: filters, searches, periods and names in the address, a username."""
    value = quote(REFLECTED, safe="")
    admin = pages(staff(bot, "xss-olga", "admin"))
    admin.page.goto(f"{bot.web_url}/admin/dashboard?channel={value}&faq={value}&tag={value}&kb_version={value}")
    admin.page.wait_for_selector("form.filters")
    admin.harmless("dashboard filters")
    assert admin.page.input_value("select[name=channel]") == REFLECTED  # kept as a choice of the pick-list
    for path in (
        f"/admin/dashboard?since={value}",
        f"/admin/conversations?metric={value}",
        f"/admin/conversations?metric=handoffs&reason={value}",
        f"/admin/conversations/{value}",
    ):
        admin.page.goto(bot.web_url + path)
        admin.harmless(path)

    editor = pages(staff(bot, "xss-eve", "editor"))
    editor.page.goto(f"{bot.web_url}/editor/?q={value}")
    editor.harmless("editor search")
    assert editor.page.input_value("input[name=q]") == REFLECTED
    for path in (f"/editor/inbox?since={value}", f"/editor/edit?file={value}.md"):
        editor.page.goto(bot.web_url + path)
        editor.harmless(path)

    visitor = pages()
    visitor.page.goto(f"{bot.web_url}/login?next={value}")
    visitor.page.fill("input[name=username]", REFLECTED)
    visitor.page.fill("input[name=password]", "wrong password")
    visitor.page.click("button[type=submit]")
    visitor.page.wait_for_selector("p.error")
    visitor.harmless("failed sign-in")
