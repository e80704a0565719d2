"""The relay between Rasa and the desk while people own a conversation.

Runs in the web app (``RelayWorker``) and does two things each pass:

- copies the customer's new messages of every open ticket from Rasa's
  tracker into the ticket (Rasa keeps logging them while the bot is paused),
  and cancels the ticket when the customer asks to go back to the bot;
- carries out ``rasa_commands`` in order per conversation: deliver queued
  agent replies (by running ``action_deliver_agent_messages``, which takes
  each undelivered reply exactly once), or resume the bot after a resolve or
  cancel. A command that fails (Rasa down) is retried with backoff; later
  commands of the same conversation wait, so replies never overtake.

A ticket left as a message while the bot was unreachable has no chat behind
it (bot/handoff/replies.py): it is not synced, and a command queued for it by
an older faqbot is not sent to Rasa; its replies go by email instead (or,
without an SMTP server, the command is closed with the reason, which the
desk shows), so nothing is retried for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.errors import FaqbotError
from bot.handoff import delivery, replies
from bot.handoff.models import HandoffTicket, RasaCommand, TransitionError
from bot.handoff.store import HandoffStore
from bot.rasa.client import RasaClient
from bot.rasa.messages import command_note
from bot.rasa.names import Actions, Entities, Intents
from bot.rasa.tracker import tracker_events
from bot.worker import PeriodicWorker

log = logging.getLogger(__name__)

#: NLU confidence above which a typed message means "back to the bot" (below it, outside a handoff, it is
#: treated as a question; inside one, as a message for the agent).
CANCEL_CONFIDENCE = 0.8
MAX_RETRY_DELAY = 60.0


class Relay:
    """One pass of syncing and delivery; ``run_once`` is what the worker repeats."""

    def __init__(self, store: HandoffStore, rasa: RasaClient) -> None:
        self.store = store
        self.rasa = rasa

    def run_once(self) -> dict[str, int]:
        """Sync every open ticket, then run due commands; returns counts of what happened."""
        counts = {"copied": 0, "cancelled": 0, "commands": 0, "failed": 0}
        for ticket in self.store.open_tickets():
            if not replies.chat_reachable(ticket):
                continue
            try:
                copied, cancelled = self.sync(ticket)
            except FaqbotError as exc:
                log.warning("cannot sync %s: %s", ticket.number, exc)
                continue
            counts["copied"] += copied
            counts["cancelled"] += int(cancelled)
        done, failed = self.run_commands()
        counts["commands"], counts["failed"] = done, failed
        return counts

    def sync(self, ticket: HandoffTicket) -> tuple[int, bool]:
        """Copy the customer's messages sent after ``ticket`` opened; cancel it if they asked to."""
        events = tracker_events(self.rasa.tracker(ticket.conversation_id))
        since = max(ticket.created_at, self.store.last_customer_source(int(ticket.id or 0)))
        copied = 0
        for event in events:
            if event.type_name != "user" or event.timestamp <= since:
                continue
            if _asks_to_cancel(event.data):
                try:
                    self.store.transition(int(ticket.id or 0), "cancel", "customer")
                except TransitionError:
                    pass
                log.info("customer cancelled %s", ticket.number)
                return copied, True
            text = command_note(event.text)
            if text is not None and self.store.add_customer_message(int(ticket.id or 0), text, event.timestamp):
                copied += 1
        return copied, False

    def run_commands(self) -> tuple[int, int]:
        done = failed = 0
        blocked: set[str] = set()
        for command in self.store.due_commands():
            if command.conversation_id in blocked:
                continue
            if self._without_chat(command):
                done += 1
                continue
            try:
                self._run(command.kind, command.conversation_id, command.ticket_id)
            except FaqbotError as exc:
                delay = min(MAX_RETRY_DELAY, 2.0 ** min(command.attempts, 6))
                log.warning("%s for %s failed (retry in %.0fs): %s", command.kind, command.conversation_id, delay, exc)
                self.store.command_failed(command.id, str(exc), delay)
                blocked.add(command.conversation_id)
                failed += 1
                continue
            self.store.command_done(command.id)
            done += 1
        return done, failed

    def _without_chat(self, command: RasaCommand) -> bool:
        """Settle a command of a ticket that has no chat, without Rasa; False for any other command."""
        ticket = self.store.get(command.ticket_id) if command.ticket_id else None
        if ticket is None or replies.chat_reachable(ticket):
            return False
        if command.kind != "deliver":
            self.store.command_done(command.id)  # nothing to resume: the bot never paused a chat for it
            return True
        try:
            moved = delivery.reroute_to_email(self.store, ticket)
        except replies.Undeliverable as exc:
            log.error("%s has no chat and its replies cannot go by email: %s", ticket.number, exc)
            self.store.command_abandoned(command.id, str(exc))
            return True
        log.info("%s has no chat: %d queued repl(y/ies) sent by email instead", ticket.number, moved)
        self.store.command_done(command.id)
        return True

    def _run(self, kind: str, conversation_id: str, ticket_id: int | None) -> None:
        if kind == "deliver":
            self.rasa.execute(conversation_id, Actions.DELIVER_AGENT_MESSAGES)
        elif kind in ("resume_resolved", "resume_cancelled"):
            ticket = self.store.get(ticket_id) if ticket_id else None
            self.rasa.resume(conversation_id)
            intent = Intents.HANDOFF_RESOLVED if kind == "resume_resolved" else Intents.HANDOFF_CANCELLED
            self.rasa.trigger(conversation_id, intent, {Entities.TICKET_NUMBER: ticket.number if ticket else ""})
        else:
            log.error("unknown Rasa command %r for %s: skipped", kind, conversation_id)


def _asks_to_cancel(event: Mapping[str, Any]) -> bool:
    """Whether a customer's message (a user event's JSON) asks to go back to the bot."""
    text = str(event.get("text") or "").strip()
    if text.startswith(f"/{Intents.CANCEL_HANDOFF}"):
        return True
    intent = (event.get("parse_data") or {}).get("intent") or {}
    return intent.get("name") == Intents.CANCEL_HANDOFF and float(intent.get("confidence") or 0) >= CANCEL_CONFIDENCE


class RelayWorker(PeriodicWorker):
    """Runs ``Relay.run_once`` every ``interval`` seconds in a daemon thread; ``wake`` runs it now."""

    def __init__(self, relay: Relay, interval: float = 1.0) -> None:
        self.relay = relay
        super().__init__("faqbot-relay", self.relay_once, interval)

    def relay_once(self) -> None:
        """One pass of the relay (its counts are logged by the relay itself)."""
        self.relay.run_once()
