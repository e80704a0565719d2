"""The admin dashboard over HTTP: numbers, chart, CSV export, JSON API, the conversations behind each
number and their transcripts, admins only, PII masked."""

from __future__ import annotations

import csv
import html
import io
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from bot.analytics.conversations import iso_time
from bot.services import Services
from bot.settings import Settings
from bot.storage.accounts import UserStore
from bot.web import create_app, dashboard
from tests.conftest import HashingEmbedder
from tests.unit.test_conversations import T0, Conversation, save_conversations
from tests.unit.test_desk import PASSWORD, _login
from tests.unit.test_metrics import BEHIND, BEHIND_PARTS, SINCE, UNTIL, seed_tickets, seeded_conversations

QUERY = urlencode({"since": iso_time(SINCE), "until": iso_time(UNTIL)})


@pytest.fixture
def embedder() -> HashingEmbedder:
    """The model the clustering of unanswered questions uses: a small fake."""
    return HashingEmbedder(dimension=1024)


@pytest.fixture
def app(settings: Settings, embedder: HashingEmbedder):
    settings = settings.replace(rasa_port=1, action_port=1, secret_key="test-secret")
    save_conversations(settings.var_dir / "rasa_tracker.db", seeded_conversations())
    seed_tickets(settings.database_path)
    users = UserStore(settings.database_path)
    users.add("ann", PASSWORD, role="agent")
    users.add("root", PASSWORD, role="admin")
    app = create_app(test_config={"TESTING": True}, services=Services(settings, embedder))
    return app


def _admin(app):
    client, response = _login(app, "root")
    assert response.status_code == 302
    return client


PAGES = (
    "/admin/dashboard",
    "/admin/api/metrics",
    "/admin/dashboard/faqs.csv",
    "/admin/conversations?metric=abandoned",
    "/admin/conversations.csv?metric=abandoned",
    "/admin/api/conversations?metric=abandoned",
    "/admin/conversations/a-ticket",
)


def test_only_admins_see_the_dashboard_lists_and_transcripts(app):
    for page in PAGES:
        response = app.test_client().get(page)
        assert response.status_code == 302 and "/login" in response.headers["Location"], page
        assert "T-000001" not in response.get_data(as_text=True), page
    agent, _ = _login(app, "ann")
    for page in PAGES:
        response = agent.get(page)
        assert response.status_code == 403 and "T-000001" not in response.get_data(as_text=True), page
    admin = _admin(app)
    assert all(admin.get(page).status_code == 200 for page in PAGES)


def test_the_dashboard_shows_the_numbers_and_a_chart(app):
    page = _admin(app).get(f"/admin/dashboard?{QUERY}").get_data(as_text=True)
    assert re.search(r'data-metric="conversations"><a href="[^"]+">11</a>', page)
    assert re.search(r'data-metric="containment_rate"><a href="[^"]+">45.5%</a> <small>\(5\)', page)
    assert re.search(r'data-metric="fcr_rate"><a href="[^"]+">71.4%</a>', page)
    assert 'data-metric="csat">4.00' in page
    assert "<svg" in page and 'class="series-containment_rate"' in page and "2023-11-15" in page
    assert "order-tracking" in page
    # the customer's email and phone in an unanswered question are masked
    assert "paying? mail [email] or call [phone]" in page
    assert "ada@example.com" not in page and "7946" not in page


def test_an_empty_period_renders(app):
    page = _admin(app).get("/admin/dashboard?since=2030-01-01").get_data(as_text=True)
    assert re.search(r'data-metric="conversations"><a href="[^"]+">0</a>', page)
    assert "No conversations in this period" in page


def test_csv_export_of_each_table(app):
    client = _admin(app)
    for table in dashboard.TABLES:
        response = client.get(f"/admin/dashboard/{table}.csv?{QUERY}")
        assert response.status_code == 200 and response.mimetype == "text/csv", table
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        assert rows or table == "bottom_faqs", table
    faqs = list(csv.DictReader(io.StringIO(client.get(f"/admin/dashboard/faqs.csv?{QUERY}").get_data(as_text=True))))
    assert {r["faq_id"]: r["answers"] for r in faqs} == {
        "order-tracking": "4",
        "payments-methods": "1",
        "returns-how": "1",
        "shipping-time": "1",
    }
    unanswered = client.get(f"/admin/dashboard/unanswered.csv?{QUERY}").get_data(as_text=True)
    assert "[email]" in unanswered and "ada@example.com" not in unanswered
    assert client.get("/admin/dashboard/secrets.csv").status_code == 404


def test_json_api_with_filters(app):
    client = _admin(app)
    data = client.get(f"/admin/api/metrics?{QUERY}").get_json()
    assert data["conversations"] == 11 and data["handoff_rate"] == 5 / 11 and data["ces"] is None
    assert data["queue_wait"] == {"count": 3, "median": 30.0, "p90": 120.0}
    assert data["unanswered_clusters"] == 4 and len(data["largest_clusters"]) == 4
    russian = client.get(f"/admin/api/metrics?{QUERY}&lang=ru").get_json()
    assert russian["conversations"] == 1 and russian["filters"]["lang"] == "ru"
    assert client.get("/admin/api/metrics?since=yesterday").status_code == 400


def test_chart_is_plain_svg():
    days = ("2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04")
    rates = ((1.0, 0.0), (0.5, 0.25), (0.75, 0.25), (1.0, 0.0))
    series = [
        {"period": day, "conversations": 4, "containment_rate": c, "handoff_rate": h, "abandonment_rate": None}
        for day, (c, h) in zip(days, rates, strict=True)
    ]
    svg = dashboard.chart(series)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "chart-lines" in svg
    assert 'points="32.0,32.0 224.0,110.0 416.0,71.0 608.0,32.0"' in svg and "series-abandonment_rate" not in svg
    assert dashboard.chart([]) == ""


def test_a_short_period_is_drawn_as_bars_with_their_values():
    """One or two days make a line of one or two dots: bars with their values and the day's count read better."""
    series = [
        {"period": "2024-01-01", "conversations": 3, "containment_rate": 2 / 3, "handoff_rate": 1 / 3,
         "abandonment_rate": 0.0},
    ]  # fmt: skip
    svg = dashboard.chart(series)
    assert "chart-bars" in svg and "<polyline" not in svg
    assert re.findall(r'<rect class="series-(\w+)"', svg) == ["containment_rate", "handoff_rate", "abandonment_rate"]
    assert ">67%</text>" in svg and ">33%</text>" in svg and ">0%</text>" in svg
    assert "2024-01-01 (3 conversations)" in svg
    assert "chart-lines" in dashboard.chart(series * dashboard.LINE_MIN_PERIODS)


# -- the conversations behind the numbers, and transcripts ------------------------------


def _links(page: str) -> dict[str, str]:
    """The dashboard's links to lists, by metric (and part)."""
    found = {}
    for href in re.findall(r'href="(/admin/conversations\?[^"]+)"', page):
        href = html.unescape(href)
        args = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
        part = args.get("reason") or args.get("answered_with")
        found[f"{args['metric']}:{part}" if part else args["metric"]] = href
    return found


def _listed(client, href: str) -> tuple[dict[str, int], int]:
    """The conversations a list page shows with what each adds (1 without a "Counted" column), and its total."""
    page = client.get(href)
    assert page.status_code == 200, href
    text = page.get_data(as_text=True)
    rows = re.findall(r'<tr data-conversation="([^"]+)">(.*?)</tr>', text, re.S)
    counted = "<th>Counted</th>" in text
    listed = {cid: int(re.findall(r"<td>(\d+)</td>", cells)[-1]) if counted else 1 for cid, cells in rows}
    return listed, int(re.search(r'data-total="(\d+)"', text)[1])


def test_every_number_links_to_exactly_its_conversations(app):
    client = _admin(app)
    page = client.get(f"/admin/dashboard?{QUERY}").get_data(as_text=True)
    links = _links(page)
    # the headline numbers, each handoff reason, each FAQ row of the two FAQ tables
    data = client.get(f"/admin/api/metrics?{QUERY}").get_json()
    numbers = {
        "conversations": data["conversations"],
        "contained": data["contained"],
        "handoffs": data["handoffs"],
        "abandoned": data["abandoned"],
        "clarified": data["clarified"],
        "unanswered": data["unanswered_questions"],
        "answers": data["answers"],
        "resolved": round(data["fcr_rate"] * data["answers"]),
    }
    numbers.update({f"handoffs:{reason}": n for reason, n in data["handoffs_by_reason"].items()})
    for row in data["faqs"]:
        numbers.update(
            {f"{metric}:{row['faq_id']}": row[metric] for metric in ("answers", "resolved", "handoffs_after")}
        )
    assert set(links) == set(numbers)
    for name, href in links.items():
        metric, _, part = name.partition(":")
        listed, total = _listed(client, href)
        assert total == sum(listed.values()) == numbers[name], name
        expected = BEHIND_PARTS.get((metric, part)) if part else BEHIND[metric]
        assert expected is None or listed == expected, name
    # the period is pinned to the dashboard's, the filters kept
    args = parse_qs(urlsplit(links["abandoned"]).query)
    assert args["since"] == ["2023-11-14T22:13:10+00:00"] and args["until"] == ["2023-11-16T22:13:20+00:00"]
    russian = _links(client.get(f"/admin/dashboard?{QUERY}&lang=ru").get_data(as_text=True))
    assert parse_qs(urlsplit(russian["abandoned"]).query)["lang"] == ["ru"]
    assert _listed(client, russian["abandoned"]) == ({"a-ru": 1}, 1)
    relative = _links(client.get("/admin/dashboard?since=7d").get_data(as_text=True))
    assert parse_qs(urlsplit(relative["conversations"]).query)["since"][0].startswith("20")  # a time, not "7d"


def test_a_list_as_page_csv_and_json(app):
    client = _admin(app)
    page = client.get(f"/admin/conversations?metric=handoffs&reason=customer_request&{QUERY}").get_data(as_text=True)
    assert "Conversations handed off to a person (customer request)" in page and 'data-total="3"' in page
    row = re.search(r'<tr data-conversation="a-ru">(.*?)</tr>', page, re.S)[1]
    for cell in (
        "2023-11-15 00:13:21 UTC",
        "telegram",
        "ru",
        "abandoned after a handoff (customer request)",
        "T-000002 <small>cancelled</small>",
    ):
        assert cell in row, cell
    assert 'href="/admin/conversations/a-ru#session-1700007201000"' in row

    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(f"/admin/conversations.csv?metric=handoffs&reason=customer_request&{QUERY}").get_data(
                    as_text=True
                )
            )
        )
    )
    assert [r["conversation_id"] for r in rows] == ["a-wait", "a-ticket2", "a-ru"]
    assert rows[2] == {
        "conversation_id": "a-ru",
        "start": "2023-11-15T00:13:21+00:00",
        "channel": "telegram",
        "language": "ru",
        "messages": "5",
        "outcome": "abandoned",
        "handoff_reason": "customer_request",
        "tickets": "T-000002 (cancelled)",
        "count": "1",
    }
    data = client.get(f"/admin/api/conversations?metric=unanswered&{QUERY}").get_json()
    assert data["total"] == 4 and data["metric"] == "unanswered"
    assert {c["conversation_id"]: c["count"] for c in data["conversations"]} == BEHIND["unanswered"]
    assert all(c["transcript"].startswith("/admin/conversations/a-") for c in data["conversations"])
    faq = client.get(f"/admin/api/conversations?metric=answers&answered_with=order-tracking&{QUERY}").get_json()
    assert faq["key"] == "order-tracking" and faq["total"] == 4

    for bad in (
        "metric=happiness",
        "metric=abandoned&reason=customer_request",
        "metric=handoffs&answered_with=x",
        "metric=conversations&since=last+week",
        "metric=conversations&page=two",
    ):
        assert client.get(f"/admin/conversations?{bad}").status_code == 400, bad


def test_long_lists_come_a_page_at_a_time(app, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(dashboard, "PAGE_SIZE", 4)
    client = _admin(app)
    pages = [_listed(client, f"/admin/conversations?metric=conversations&{QUERY}&page={n}")[0] for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [4, 4, 3]
    assert {cid for p in pages for cid in p} == set(BEHIND["conversations"])
    last = client.get(f"/admin/conversations?metric=conversations&{QUERY}&page=3").get_data(as_text=True)
    assert "Rows 9–11 of 11" in last and ">Previous<" in last and ">Next<" not in last


def test_the_transcript_page_in_order_and_redacted(app):
    client = _admin(app)
    page = client.get("/admin/conversations/a-ticket").get_data(as_text=True)
    said = re.findall(
        r'<li class="(\w+)" data-speaker="\w+">.*?<div class="text" dir="auto"[^>]*>(.*?)</div>', page, re.S
    )
    # what the bot said is markdown, rendered in the browser as the widget renders it; the customer's is text
    opening = r'data-speaker="(\w+)">[^\n]*\n\s*<div class="text" dir="auto"( data-markdown(?:="typed")?)?>'
    texts = re.findall(opening, page)
    assert len(texts) == 9 and all(bool(md) == (speaker in ("bot", "agent")) for speaker, md in texts), texts
    assert "desk_markdown.js" in page
    assert said == [
        ("customer", "can you recommend a pizza recipe"),
        ("bot", "…"),
        ("customer", "/affirm"),
        ("bot", "…"),
        ("bot", "…"),
        ("customer", "Ada Lovelace"),
        ("bot", "…"),
        ("customer", "[email]"),
        ("bot", "…"),
    ]
    assert "ada@example.com" not in page and "x@example.com" not in page
    assert "band handoff · confidence 0.02 · KB 0459ca5377d31856-796820" in page
    assert "T-000001" in page and "resolved" in page and "5/5" in page and "“great”" in page
    answer = client.get("/admin/conversations/a-answer").get_data(as_text=True)
    assert "band answer · FAQ order-tracking · confidence 0.93" in answer
    clarify = client.get("/admin/conversations/a-abandon").get_data(as_text=True)
    assert "paying? mail [email] or call [phone]" in clarify and "7946" not in clarify
    assert "band clarify · confidence 0.41" in clarify and ">None of these<" in clarify
    assert client.get("/admin/conversations/nobody").status_code == 404


def test_conversation_ids_are_quoted_whole_in_links(app, settings: Settings):
    phone = "whatsapp:+15551234567/2"
    save_conversations(
        settings.var_dir / "rasa_tracker.db",
        [Conversation(phone, T0 + 7600, channel="twilio").offered("is my card 4111 1111 1111 1111 ok", [])],
    )
    client = _admin(app)
    page = client.get(f"/admin/conversations?metric=unanswered&{QUERY}").get_data(as_text=True)
    link = "/admin/conversations/whatsapp%3A%2B15551234567%2F2#session-1700007601000"
    assert f'href="{link}"' in page and "15551234567" not in page.replace(link, "")
    assert ">whatsapp:[phone]/2</a>" in page  # the id is shown masked
    transcript = client.get(link.partition("#")[0])
    assert transcript.status_code == 200
    text = transcript.get_data(as_text=True)
    assert 'Conversation <span dir="auto">whatsapp:[phone]/2</span>' in text
    assert "is my card [card] ok" in text and "15551234567" not in text and "4111" not in text
    # a login keeps where the admin was going
    login = app.test_client().get(link.partition("#")[0])
    assert parse_qs(urlsplit(login.headers["Location"]).query)["next"] == ["/admin/conversations/" + phone]
    csv_text = client.get(f"/admin/conversations.csv?metric=unanswered&{QUERY}").get_data(as_text=True)
    assert "whatsapp:[phone]/2" in csv_text and "15551234567" not in csv_text
    with app.test_request_context():
        assert dashboard.transcript_url(phone) == link.partition("#")[0]


def test_the_dashboard_shows_the_content_gaps(app):
    client = _admin(app)
    page = client.get(f"/admin/dashboard?{QUERY}").get_data(as_text=True)
    assert re.search(r'data-metric="unanswered_clusters"><a href="#clusters">4</a>', page)
    assert "4 clusters of 4 unanswered questions" in page and 'href="/editor/inbox?since=2023-11-14' in page
    gaps = re.search(r'<table class="clusters">(.*?)</table>', page, re.S)[1]
    assert '<td>1</td><td>en</td><td dir="auto">paying? mail [email] or call [phone]</td>' in gaps
    rows = list(
        csv.DictReader(io.StringIO(client.get(f"/admin/dashboard/clusters.csv?{QUERY}").get_data(as_text=True)))
    )
    assert sorted(int(r["size"]) for r in rows) == [1, 1, 1, 1] and {r["language"] for r in rows} == {"en"}
    assert "paying? mail [email] or call [phone]" in {r["example"] for r in rows}
    empty = client.get("/admin/dashboard?since=2030-01-01").get_data(as_text=True)
    assert "0 clusters of 0 unanswered questions" in empty


def _options(page: str, name: str) -> tuple[list[str], str | None]:
    """A filter's pick-list: its values (after "all"), and the selected one."""
    select = re.search(rf'<select name="{name}" data-filter="{name}">(.*?)</select>', page, re.S)
    assert select, f"no pick-list for {name}"
    options = re.findall(r'<option value="([^"]*)"( selected)?>', select.group(1))
    assert options[0] == ("", ""), "the first choice is all"
    return [html.unescape(v) for v, _ in options[1:]], next((html.unescape(v) for v, s in options if s), None)


def test_the_filters_are_pick_lists_of_the_values_in_the_data(app, settings: Settings):
    client = _admin(app)
    page = client.get(f"/admin/dashboard?{QUERY}").get_data(as_text=True)
    assert '<input name="channel"' not in page and '<input name="kb_version"' not in page
    channels, _ = _options(page, "channel")
    assert channels and set(channels) <= {"socketio", "rest", "telegram", "twilio", "slack", "facebook"}, channels
    assert _options(page, "lang")[0] == ["en", "ru"]
    faqs, _ = _options(page, "faq")
    assert "order-tracking" in faqs and faqs == sorted(faqs)
    assert _options(page, "tag")[0], "the KB's tags"
    versions, _ = _options(page, "kb_version")
    assert "0459ca5377d31856-796820" in versions
    # the values come from the period: none in an empty one, but the KB's FAQs and the languages stay
    empty = client.get("/admin/dashboard?since=2030-01-01").get_data(as_text=True)
    assert _options(empty, "channel")[0] == [] and _options(empty, "kb_version")[0] == []
    assert "order-tracking" in _options(empty, "faq")[0]
    # a chosen value is selected, and one the data does not hold is kept selectable
    chosen = client.get(f"/admin/dashboard?{QUERY}&lang=ru&channel=carrier-pigeon").get_data(as_text=True)
    assert _options(chosen, "lang")[1] == "ru"
    assert _options(chosen, "channel") == ([*channels, "carrier-pigeon"], "carrier-pigeon")


def test_a_short_period_also_shows_its_numbers_as_a_table(app):
    page = _admin(app).get(f"/admin/dashboard?{QUERY}").get_data(as_text=True)
    table = re.search(r'<table class="series" id="series-table">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert ("chart-bars" in page) == (table is not None)  # the table goes with the bars of a short period
    if "chart-lines" in page:
        assert table is None and "series.csv" in page
        page = _admin(app).get(f"/admin/dashboard?{QUERY}&interval=week").get_data(as_text=True)
        table = re.search(r'<table class="series" id="series-table">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert table
    rows = re.findall(r"<tr><td>([\w-]+)</td><td>(\d+)</td>", table.group(1))
    assert rows and sum(int(n) for _, n in rows) == 11


def test_the_faq_pick_list_shows_each_faqs_title_and_a_passages_article_and_heading(app, settings: Settings):
    passage = (
        "## Oiling and waxing\n```yaml\nid: wood-care-oiling\nkind: passage\narticle:\n"
        "  title: Caring for wood\n  url: https://larkspur.example/help/wood-care\n```\n\nOil it once a year.\n"
    )
    (settings.kb_dir / "en" / "articles").mkdir(parents=True)
    (settings.kb_dir / "en" / "articles" / "wood-care.md").write_text(passage, encoding="utf-8")
    page = _admin(app).get(f"/admin/dashboard?{QUERY}").get_data(as_text=True)
    faqs, _ = _options(page, "faq")
    assert "wood-care-oiling" in faqs
    select = re.search(r'<select name="faq" data-filter="faq">(.*?)</select>', page, re.S).group(1)
    assert '<option value="wood-care-oiling">wood-care-oiling — Caring for wood — Oiling and waxing</option>' in select
    assert re.search(r'<option value="order-tracking">order-tracking — [^<]+\?</option>', select)
