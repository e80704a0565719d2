"""bot/logs.py: no personal data in any log line; one repeated warning does not flood the log."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

from bot.logs import RepeatFilter, mask_personal_data, mask_record

EMAIL, CARD, PHONE = "ada.lovelace@example.com", "4111 1111 1111 1111", "+44 20 7946 0958"


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("rasa.core", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_message_arguments_and_traceback_are_masked():
    try:
        raise ValueError(f"cannot store {EMAIL} paying with {CARD}")
    except ValueError as error:
        masked = mask_record(record("customer %s (%s) said %r", "Ada", PHONE, f"my card is {CARD}", exc=error))
    line = logging.Formatter("%(message)s").format(masked)
    assert EMAIL not in line and CARD not in line and PHONE not in line, line
    assert "customer Ada ([phone]) said 'my card is [card]'" in line
    assert "ValueError: cannot store [email] paying with [card]" in line
    assert "order LK-123456 at 12:30" in mask_personal_data("order LK-123456 at 12:30")  # people need those


def test_a_broken_format_string_is_logged_masked_not_raised():
    masked = mask_record(record("%d items for %s", "not a number", EMAIL))
    assert EMAIL not in masked.getMessage() and "%d items" in masked.getMessage()


def test_installed_in_a_process_every_logger_and_warning_is_masked(tmp_path):
    """Loggers and handlers configured after the install (as Rasa and Sanic do) are covered too."""
    log = tmp_path / "out.log"
    script = f"""
        import logging, warnings
        from bot.logs import install_log_privacy
        install_log_privacy()
        logging.basicConfig(filename={str(log)!r}, level=logging.INFO)
        quiet = logging.getLogger("sanic.error")
        quiet.propagate = False
        quiet.addHandler(logging.FileHandler({str(log)!r}))
        quiet.error("request from %s failed", {EMAIL!r})
        logging.getLogger("rasa").info("tracker: " + {CARD!r})
        warnings.warn("slot value " + {PHONE!r})
        try:
            {{}}["key " + {EMAIL!r}]
        except KeyError:
            logging.getLogger("x").exception("lookup failed")
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=True, timeout=60)
    text = log.read_text()
    assert text.count("[email]") == 2 and "[card]" in text and "[phone]" in text, text
    assert EMAIL not in text and CARD not in text and PHONE not in text, text


def test_repeats_are_held_back_then_counted():
    now = [0.0]
    repeats = RepeatFilter(window=60, clock=lambda: now[0])

    def passes(ticket: str, level: int = logging.WARNING) -> bool:
        args = (ticket, "down")
        made = mask_record(logging.LogRecord("bot.rasa.relay", level, "f", 1, "cannot sync %s: %s", args, None))
        return repeats.filter(made) and made.getMessage() or False

    assert passes("T-000001") == "cannot sync T-000001: down"
    for second in range(1, 60):
        now[0] = second
        assert not passes(f"T-{second:06d}")
    assert passes("T-1", logging.ERROR)  # another level is another kind
    now[0] = 61
    assert passes("T-000002") == "cannot sync T-000002: down (59 more like this in the last 60 s were not logged)"
    assert passes("T-3") is False
    assert repeats.filter(logging.LogRecord("x", logging.INFO, "f", 1, "info %s", ("a",), None))  # info: always
