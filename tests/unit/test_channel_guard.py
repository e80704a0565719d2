"""channels/: every configured input channel screens messages before NLU; rate limit; socket.io origins."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.rasa.channels import read_template
from bot.settings import PROJECT_ROOT

guard = pytest.importorskip("channels.guard")
ratelimit = pytest.importorskip("channels.ratelimit")
socketio_channel = pytest.importorskip("channels.socketio")


def channel_class(name: str) -> type:
    from rasa.core.channels import BUILTIN_CHANNELS
    from rasa.shared.utils.common import class_from_module_path

    return BUILTIN_CHANNELS[name] if name in BUILTIN_CHANNELS else class_from_module_path(name)


@pytest.mark.parametrize("name", list(read_template(PROJECT_ROOT / "credentials.yml")))
def test_every_configured_channel_is_a_faqbot_class_that_screens_messages(name):
    """A channel added to credentials.yml as Rasa's own ("slack:") or without the guard fails here."""
    cls = channel_class(name)
    assert cls.__module__.startswith("channels."), f"{name} is Rasa's own channel: use a faqbot subclass"
    assert issubclass(cls, guard.GuardedInput), f"{name} does not screen messages (channels/guard.py)"
    # The guard's blueprint comes before Rasa's, so it wraps the handler Rasa's channel calls.
    rasa_base = next(base for base in cls.__mro__ if base.__module__.startswith("rasa.") and "blueprint" in vars(base))
    assert cls.__mro__.index(guard.GuardedInput) < cls.__mro__.index(rasa_base)


def test_the_guard_replaces_what_nlu_must_not_read_and_passes_the_rest():
    seen: list[str] = []

    async def on_new_message(message) -> None:
        seen.append(message.text)

    handler = guard.guarded(on_new_message, 5000, ("en", "ar", "ru"))
    for text in ("x" * 100_000, "", "🙂🙂", "where is my order?", '/choose_faq{"faq_id": "a"}'):
        asyncio.run(handler(SimpleNamespace(text=text, input_channel="rest", output_channel=None)))
    assert seen == [
        '/message_too_long{"message_length": 100000, "message_language": "en"}',
        '/empty_message{"message_length": 0}',
        '/unreadable_message{"message_length": 2}',
        "where is my order?",
        '/choose_faq{"faq_id": "a"}',
    ]


def test_rate_limit_allows_a_burst_then_one_per_interval_per_key():
    store = ratelimit.MemoryRateStore()

    def take(key: str, now: float) -> float:
        return asyncio.run(store.take(key, 3, 60.0, now))

    assert [take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]  # a burst of 3
    assert take("a", 1.0) == pytest.approx(19.0)  # the 4th waits for the first slot: 20 s after the start
    assert take("b", 1.0) == 0.0  # another address has its own count
    assert take("a", 20.0) == 0.0 and take("a", 21.0) > 0  # one per 20 s after the burst
    assert take("a", 200.0) == 0.0 and take("a", 200.0) == 0.0  # idle long enough: a burst again


def test_rate_limit_forgets_the_longest_unused_addresses_first():
    store = ratelimit.MemoryRateStore(max_keys=2)
    for key in ("a", "b", "c"):
        asyncio.run(store.take(key, 1, 60.0, 0.0))
    assert asyncio.run(store.take("a", 1, 60.0, 1.0)) == 0.0  # "a" was forgotten
    assert asyncio.run(store.take("c", 1, 60.0, 1.0)) > 0  # "c" was not


def test_no_limit_when_switched_off():
    limiter = ratelimit.RateLimiter(0, 0.0)
    assert all(asyncio.run(limiter.wait("a")) == 0.0 for _ in range(100))


def test_socket_io_refuses_other_origins():
    calls: list[str] = []

    async def handle_request(request):
        calls.append(request.headers.get("origin"))
        return "handled"

    checked = socketio_channel.only_from(("http://localhost:8000", "https://shop.example/"), handle_request)
    assert checked.__name__ == "handle_request"  # Sanic names the route after it

    def request(origin: str | None):
        return SimpleNamespace(headers={"origin": origin} if origin else {})

    assert asyncio.run(checked(request("https://shop.example"))) == "handled"
    assert asyncio.run(checked(request(None))) == "handled"  # no Origin: not a browser page
    refused = asyncio.run(checked(request("https://evil.example")))
    assert refused.status == 403 and calls == ["https://shop.example", None]
    anyone = socketio_channel.only_from(("*",), handle_request)
    assert asyncio.run(anyone(request("https://evil.example"))) == "handled"
