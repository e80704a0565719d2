"""The admin dashboard over HTTP: numbers, chart, CSV export, JSON API, admins only, PII masked."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

import pytest

from bot.accounts import UserStore
from bot.conversations import iso_time
from bot.settings import Settings
from bot.web import create_app, dashboard
from tests.unit.test_conversations import save_conversations
from tests.unit.test_desk import PASSWORD, _login
from tests.unit.test_metrics import SINCE, UNTIL, seed_tickets, seeded_conversations

QUERY = urlencode({"since": iso_time(SINCE), "until": iso_time(UNTIL)})


@pytest.fixture
def app(settings: Settings):
    settings = settings.replace(rasa_port=1, action_port=1, secret_key="test-secret")
    save_conversations(settings.var_dir / "rasa_tracker.db", seeded_conversations())
    seed_tickets(settings.database_path)
    users = UserStore(settings.database_path)
    users.add("ann", PASSWORD, role="agent")
    users.add("root", PASSWORD, role="admin")
    app = create_app(settings=settings, test_config={"TESTING": True})
    return app


def _admin(app):
    client, response = _login(app, "root")
    assert response.status_code == 302
    return client


def test_only_admins_see_the_dashboard(app):
    assert "/login" in app.test_client().get("/admin/dashboard").headers["Location"]
    agent, _ = _login(app, "ann")
    assert agent.get("/admin/dashboard").status_code == 403
    assert agent.get("/admin/api/metrics").status_code == 403
    assert agent.get("/admin/dashboard/faqs.csv").status_code == 403


def test_the_dashboard_shows_the_numbers_and_a_chart(app):
    page = _admin(app).get(f"/admin/dashboard?{QUERY}").get_data(as_text=True)
    assert 'data-metric="conversations">11<' in page
    assert 'data-metric="containment_rate">45.5%<' in page
    assert 'data-metric="fcr_rate">71.4%<' in page
    assert 'data-metric="csat">4.00' in page
    assert "<svg" in page and 'class="series-containment_rate"' in page and "2023-11-15" in page
    assert "order-tracking" in page
    # the customer's email and phone in an unanswered question are masked
    assert "paying? mail [email] or call [phone]" in page
    assert "ada@example.com" not in page and "7946" not in page


def test_an_empty_period_renders(app):
    page = _admin(app).get("/admin/dashboard?since=2030-01-01").get_data(as_text=True)
    assert 'data-metric="conversations">0<' in page and "No conversations in this period" in page


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
    russian = client.get(f"/admin/api/metrics?{QUERY}&lang=ru").get_json()
    assert russian["conversations"] == 1 and russian["filters"]["lang"] == "ru"
    assert client.get("/admin/api/metrics?since=yesterday").status_code == 400


def test_chart_is_plain_svg():
    series = [
        {"period": "2024-01-01", "containment_rate": 1.0, "handoff_rate": 0.0, "abandonment_rate": None},
        {"period": "2024-01-02", "containment_rate": 0.5, "handoff_rate": 0.25, "abandonment_rate": None},
    ]
    svg = dashboard.chart(series)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'points="32.0,32.0 608.0,110.0"' in svg and "series-abandonment_rate" not in svg
    assert dashboard.chart([]) == ""
