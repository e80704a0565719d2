import pytest

from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.kb.loader import load_knowledge_base
from bot.retrieval.index import build_index
from bot.settings import Settings
from bot.web import create_app
from tests.conftest import HashingEmbedder


@pytest.fixture
def app(settings: Settings):
    # Nothing listens on these ports: health must report both services down.
    settings = settings.replace(rasa_port=1, action_port=1)
    return create_app(settings=settings, test_config={"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def _store(settings: Settings) -> HandoffStore:
    return HandoffStore(settings.database_path)


def _add_ticket(settings: Settings, **changes) -> HandoffTicket:
    data = dict(
        conversation_id="conv-1",
        channel="socketio",
        language="ar",
        customer={"customer_name": "فاطمة", "customer_email": "f@example.com", "order_number": "LK-123456"},
        question="أين طلبي؟",
        candidates=[{"id": "order-tracking", "question": "كيف أتتبع طلبي؟", "score": 0.41}],
        reason="low_confidence",
        transcript=[{"role": "customer", "text": "أين طلبي؟", "timestamp": 1700000000.0}],
        kb_version="v1",
    )
    data.update(changes)
    return _store(settings).create(HandoffTicket(**data))


def test_demo_page_embeds_the_widget(client, settings):
    page = client.get("/").get_data(as_text=True)
    assert page.count("<script") == 1 and "widget.js" in page  # one tag; it loads the rest itself
    assert 'data-socket-url="http://localhost:1"' in page
    for asset in ("widget.js", "widget.css", "vendor/socket.io.min.js", "vendor/marked.umd.js", "vendor/purify.min.js"):
        assert client.get(f"/static/{asset}").status_code == 200, asset
    assert 'dir="rtl"' in client.get("/?lang=ar").get_data(as_text=True)


def test_api_requires_the_token(client, settings):
    assert client.get("/api/handoffs").status_code == 401
    assert client.get("/api/handoffs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/api/handoffs", headers={"Authorization": "Bearer test-token"})
    assert ok.status_code == 200 and ok.get_json() == {"handoffs": []}


def test_api_is_disabled_without_a_configured_token(settings):
    client = create_app(settings=settings.replace(api_token="")).test_client()
    response = client.get("/api/handoffs", headers={"Authorization": "Bearer "})
    assert response.status_code == 503 and "FAQBOT_API_TOKEN" in response.get_json()["error"]


def test_api_lists_tickets_with_full_context(client, settings):
    ticket = _add_ticket(settings)
    body = client.get("/api/handoffs?token=test-token").get_json()
    (item,) = body["handoffs"]
    assert item["number"] == ticket.number
    assert item["customer"]["order_number"] == "LK-123456"
    assert item["candidates"][0]["id"] == "order-tracking"
    assert item["transcript"][0]["text"] == "أين طلبي؟"
    assert client.get(f"/api/handoffs/{ticket.id}?token=test-token").get_json()["reason"] == "low_confidence"
    assert client.get("/api/handoffs/999?token=test-token").status_code == 404
    assert client.get("/api/handoffs?limit=x&token=test-token").status_code == 400


def test_rest_integrations_can_poll_a_conversations_agent_replies(client, settings):
    ticket = _add_ticket(settings)
    store = _store(settings)
    store.transition(int(ticket.id), "claim", "ann")
    first = store.add_agent_message(int(ticket.id), "ann", "مرحباً فاطمة")
    store.add_note(int(ticket.id), "ann", "internal")
    body = client.get("/api/conversations/conv-1/handoff?token=test-token").get_json()
    assert body["ticket"]["status"] == "with_agent" and [m["text"] for m in body["messages"]] == ["مرحباً فاطمة"]
    later = client.get(f"/api/conversations/conv-1/handoff?after={first.id}&token=test-token").get_json()
    assert later["messages"] == []
    assert client.get("/api/conversations/nope/handoff?token=test-token").status_code == 404
    assert client.get("/api/conversations/conv-1/handoff").status_code == 401


def test_healthz_reports_each_part(client, settings, small_kb, embedder: HashingEmbedder):
    body = client.get("/healthz")
    assert body.status_code == 503
    data = body.get_json()
    assert data["status"] == "degraded" and data["rasa"]["ok"] is False and data["action_server"]["ok"] is False
    assert data["kb"]["ok"] is False and "faqbot kb build" in data["kb"]["error"]

    build_index(load_knowledge_base(small_kb, ("en", "ru")), embedder, settings.index_dir)
    kb = client.get("/healthz").get_json()["kb"]
    assert kb["ok"] is True and kb["entries"] == {"en": 3, "ru": 3} and kb["version"]


def test_healthz_reports_the_supervisors_view_of_each_process(client, settings):
    import json
    import os

    path = settings.services_status_path
    path.parent.mkdir(parents=True)
    services = {
        "rasa": {"state": "backoff", "restarts": 2, "last_exit_code": -9, "next_start_at": 1.0},
        "actions": {"state": "up", "restarts": 0},
        "web": {"state": "up", "restarts": 0},
    }
    path.write_text(json.dumps({"supervisor_pid": os.getpid(), "services": services}))
    response = client.get("/healthz")
    assert response.status_code == 503
    supervisor = response.get_json()["supervisor"]
    assert supervisor["ok"] is False and supervisor["services"]["rasa"]["restarts"] == 2
    assert supervisor["services"]["rasa"]["last_exit_code"] == -9

    services["rasa"] = {"state": "up", "restarts": 2}
    path.write_text(json.dumps({"supervisor_pid": os.getpid(), "services": services}))
    assert client.get("/healthz").get_json()["supervisor"]["ok"] is True


def test_healthz_is_503_whenever_the_status_is_not_ok(settings, small_kb, embedder: HashingEmbedder):
    """Monitors look at the status code: 200 only for "ok"; the body still says what is wrong."""
    from bot.editing.watch import KbWatcher
    from tests.servers import LoopbackServer, QuietHandler

    class Up(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.end_headers()

    services = LoopbackServer(Up)  # Rasa's "/" and the action server's "/health" both answer
    try:
        port = int(services.origin.rsplit(":", 1)[1])
        client = create_app(settings=settings.replace(rasa_port=port, action_port=port)).test_client()
        watcher = KbWatcher(settings, embedder)
        watcher.check_once()
        healthy = client.get("/healthz")
        assert healthy.status_code == 200 and healthy.get_json()["status"] == "ok"

        faq = small_kb / "en" / "faq.md"
        faq.write_text(faq.read_text(encoding="utf-8").replace("id: order-tracking", "id: Bad Id"), encoding="utf-8")
        watcher.check_once()  # the edit is rejected; the previous KB still serves
        rejected = client.get("/healthz")
        body = rejected.get_json()
        assert rejected.status_code == 503 and body["status"] == "degraded"
        assert body["rasa"]["ok"] and body["action_server"]["ok"] and body["kb"]["ok"]
        assert body["kb"]["reload"]["ok"] is False and "Bad Id" in body["kb"]["reload"]["problems"][0]
    finally:
        services.close()


def test_every_page_has_a_favicon(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/vnd.microsoft.icon"
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and b"<svg" in svg.data
    for path in ("/", "/login"):
        page = client.get(path).get_data(as_text=True)
        assert 'rel="icon" href="/favicon.ico"' in page and 'href="/static/favicon.svg"' in page, path


def test_a_bad_rating_is_shown_as_invalid_input_not_as_an_unavailable_ticket_store(settings):
    app = create_app(settings=settings, test_config={"TESTING": True})
    ticket = HandoffStore(settings.database_path).create(
        HandoffTicket("c1", "socketio", "en", {}, "hi", [], "customer_request", [])
    )

    @app.get("/rate-seven")
    def rate_seven() -> str:
        HandoffStore(settings.database_path).rate(int(ticket.id or 0), 7)
        return "stored"

    response = app.test_client().get("/rate-seven")
    assert response.status_code == 400
    assert b"Invalid input: a rating is 1 to 5, not 7" in response.data and b"unavailable" not in response.data
