"""How an agent's reply reaches the customer: in their chat (through Rasa) or by email (through the outbox).

* A ticket left with "leave a message" while the bot was unreachable (reason
  ``offline_message``) has no chat behind it: its replies go by email only.
* Any other ticket: in the chat by default; by email when the agent chooses
  it (a customer whose conversation has ended) and the customer gave an address.
* Email needs an SMTP server (``FAQBOT_SMTP_HOST``). When no way is open,
  ``ReplyOptions.default`` is None and ``refusal`` says why: the desk shows
  it before the agent types, and such a reply is refused (nothing is queued).

How far each reply got, and rerouting or retrying them, is ``bot.handoff.delivery``'s.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from bot.errors import HandoffError
from bot.handoff import mail, outbox

if TYPE_CHECKING:
    from bot.handoff.mail import MailComposer
    from bot.handoff.models import HandoffMessage, HandoffTicket
    from bot.storage.database import Connection

VIA = ("chat", "email")
OFFLINE_REASON = "offline_message"


class Undeliverable(HandoffError):
    """A reply has no way to reach the customer (or not the way asked for); nothing was stored."""


def chat_reachable(ticket: HandoffTicket) -> bool:
    """Whether the ticket has a chat conversation behind it (every ticket but a left message)."""
    return ticket.reason != OFFLINE_REASON


def message_ref(message_id: int) -> str:
    """How an outbox row names the reply it carries."""
    return f"handoff_message:{message_id}"


@dataclasses.dataclass(frozen=True)
class ReplyOptions:
    """The ways a reply on one ticket can take: for each, None when open, else why it is closed."""

    chat: str | None
    email: str | None
    address: str

    @property
    def default(self) -> str | None:
        """The way a reply takes when the agent does not choose: the chat when open, else email, else None."""
        if self.chat is None:
            return "chat"
        return "email" if self.email is None else None

    def refusal(self, via: str) -> str | None:
        """Why a reply by ``via`` cannot be sent, or None when it can."""
        if via not in VIA:
            return f"a reply goes by {' or '.join(VIA)}, not {via!r}"
        return self.chat if via == "chat" else self.email

    def to_dict(self) -> dict[str, Any]:
        return {"chat": self.chat, "email": self.email, "address": self.address, "default": self.default}


def reply_options(ticket: HandoffTicket, email_enabled: bool) -> ReplyOptions:
    """Which ways are open for a reply on ``ticket`` (``email_enabled``: an SMTP server is configured)."""
    address = (ticket.customer.get("customer_email") or "").strip()
    chat = None if chat_reachable(ticket) else (
        "the customer left this message while the bot was unreachable: there is no chat to answer in, "
        "only their email"
    )  # fmt: skip
    if not address:
        email = "the customer gave no email address"
    elif not email_enabled:
        email = "no SMTP server is configured (FAQBOT_SMTP_HOST), so faqbot cannot send email"
    else:
        email = None
    return ReplyOptions(chat=chat, email=email, address=address)


def queue_email(
    conn: Connection,
    composer: MailComposer,
    ticket: HandoffTicket,
    message: HandoffMessage,
    now: float,
    agent_name: str,
) -> str:
    """Queue the email of ``message`` (an agent's reply on ``ticket``, signed ``agent_name``) in the outbox,
    inside the caller's transaction; return its delivery id. Raises ``Undeliverable`` when the email cannot be
    built."""
    address = (ticket.customer.get("customer_email") or "").strip()
    delivery_id = outbox.new_delivery_id()
    try:
        email = composer.compose(ticket, address, agent_name, message.text, delivery_id, now)
    except mail.CannotCompose as exc:
        raise Undeliverable(f"{ticket.number}: {exc}") from exc
    return outbox.enqueue(
        conn, mail.CHANNEL, mail.EVENT, mail.serialise(email), now,
        receiver=address.lower(), ref=message_ref(message.id), delivery_id=delivery_id,
    )  # fmt: skip
