"""Agents' replies by email: the message, from per-language templates, and its SMTP transport.

``MailComposer.compose`` builds the email of one reply: plain text and a
simple HTML part from ``mail_templates/<language>.yml`` (content, not code),
the ticket number in the subject, ``From``/``Reply-To`` from the settings,
and per ticket the threading headers (``In-Reply-To`` and ``References`` name
one id per ticket), so a mail client shows a ticket's replies as one thread.
The store queues it in the outbox (channel ``email``, one queue per
recipient; bot/handoff/outbox.py) in the transaction that stores the reply,
and ``SmtpTransport`` sends it. What the outbox makes of a send:

* accepted after ``DATA``: sent;
* 5xx for the recipient (``RCPT``) or the message (``DATA``): a dead letter at once;
* 4xx for the recipient or the message: retried with backoff; other recipients go on;
* the server unreachable, TLS failing, the login or the sender refused:
  retried, and the round stops (every other email would fail the same way).

Every step with the server has ``timeout``; an email can arrive twice only
when the connection drops after the server accepted it (its ``Message-ID``
is the same, so mail clients show it once).
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import hashlib
import logging
import smtplib
import socket
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import yaml

from bot.errors import ConfigError, HandoffError
from bot.handoff.outbox import OutboxRow, SendOutcome, short_error

if TYPE_CHECKING:
    from bot.handoff.models import HandoffTicket
    from bot.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "email"
EVENT = "handoff.reply"
TEMPLATES_DIR = Path(__file__).with_name("mail_templates")
TEMPLATE_PARTS = ("subject", "text", "html")
#: Exchanges with the server in one send (connect, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA,
#: the message, QUIT, and slack): each bounded by the timeout, together the longest a send takes.
SMTP_STEPS = 12
SECURITY = ("starttls", "ssl", "none")


class CannotCompose(HandoffError):
    """The email of a reply cannot be built (an unusable address, a broken template)."""


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in str(text).splitlines() or [""])


class MailComposer:
    """Builds reply emails from the templates of ``templates_dir`` (``<language>.yml`` each).

    Raises ``ConfigError`` at construction when the sender is not an address
    or the default language's template is missing or broken; a language
    without a file of its own uses the default language's.
    """

    def __init__(
        self,
        sender: str,
        reply_to: str = "",
        default_language: str = "en",
        templates_dir: Path = TEMPLATES_DIR,
    ) -> None:
        address = parseaddr(sender)[1]
        if "@" not in address:
            raise ConfigError(f"the email sender {sender!r} is not an address")
        self.sender = sender
        self.reply_to = reply_to
        self.default_language = default_language
        self.domain = address.rsplit("@", 1)[1].lower()
        self._text_env = jinja2.Environment(
            autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
        )
        self._html_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
        for env in (self._text_env, self._html_env):
            env.filters["quoted"] = _quoted
        self._templates: dict[str, dict[str, jinja2.Template]] = {}
        for path in sorted(templates_dir.glob("*.yml")):
            self._templates[path.stem] = self._load(path)
        if default_language not in self._templates:
            raise ConfigError(f"no email template for the default language: {templates_dir / default_language}.yml")

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages that have a template of their own."""
        return tuple(sorted(self._templates))

    def _load(self, path: Path) -> dict[str, jinja2.Template]:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"email template {path}: {exc}") from exc
        if not isinstance(data, dict) or not all(isinstance(data.get(part), str) for part in ("subject", "text")):
            raise ConfigError(f"email template {path}: needs 'subject' and 'text' (and may have 'html')")
        unknown = set(data) - set(TEMPLATE_PARTS)
        if unknown:
            raise ConfigError(f"email template {path}: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            templates = {
                part: (self._html_env if part == "html" else self._text_env).from_string(data[part])
                for part in TEMPLATE_PARTS
                if isinstance(data.get(part), str)
            }
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"email template {path}, line {exc.lineno}: {exc.message}") from exc
        return templates

    def thread_id(self, ticket: HandoffTicket) -> str:
        """The ``Message-ID``-like id all of a ticket's emails reply to: stable, and not guessable from
        the ticket number alone."""
        seed = f"{ticket.id}|{ticket.created_at!r}|{ticket.conversation_id}".encode()
        return f"<{ticket.number}.{hashlib.sha256(seed).hexdigest()[:16]}@{self.domain}>"

    def compose(
        self, ticket: HandoffTicket, recipient: str, agent_name: str, reply: str, delivery_id: str, now: float
    ) -> EmailMessage:
        """The email of one reply on ``ticket`` to ``recipient``, in the ticket's language.

        Its ``Message-ID`` contains ``delivery_id``, so every attempt sends the
        same id. Raises ``CannotCompose`` for an address that cannot be used
        or a template that does not render.
        """
        templates = self._templates.get(ticket.language) or self._templates[self.default_language]
        values = {
            "ticket_number": ticket.number,
            "agent_name": agent_name,
            "reply": reply,
            "customer_name": " ".join(str(ticket.customer.get("customer_name") or "").split()),  # no CR/LF in To
            "question": ticket.question,
        }
        try:
            subject = " ".join(templates["subject"].render(values).split())
            text = templates["text"].render(values)
            html = templates["html"].render(values) if "html" in templates else None
        except jinja2.TemplateError as exc:
            raise CannotCompose(f"the {ticket.language} email template does not render: {exc}") from exc
        message = EmailMessage(policy=email.policy.SMTP)
        try:
            message["From"] = self.sender
            message["To"] = Address(display_name=values["customer_name"], addr_spec=recipient)
            if self.reply_to:
                message["Reply-To"] = self.reply_to
            message["Subject"] = subject
            message["Date"] = formatdate(now, usegmt=True)
            message["Message-ID"] = f"<{ticket.number}.{delivery_id}@{self.domain}>"
            thread = self.thread_id(ticket)
            message["In-Reply-To"] = thread
            message["References"] = thread
            message["X-Faqbot-Ticket"] = ticket.number
        except (ValueError, TypeError, IndexError, email.errors.MessageError) as exc:
            raise CannotCompose(f"cannot address an email to {recipient!r}: {exc}") from exc
        message.set_content(text, charset="utf-8")
        if html is not None:
            message.add_alternative(html, subtype="html", charset="utf-8")
        message["Content-Language"] = ticket.language  # after the content: setting it clears Content-* headers
        return message


def serialise(message: EmailMessage) -> str:
    """The stored form of an email (what the outbox keeps and ``parse`` reads back)."""
    return message.as_string()


def parse(body: str) -> EmailMessage:
    """An email stored by ``serialise``."""
    parsed = email.message_from_string(body, policy=email.policy.SMTP)
    assert isinstance(parsed, EmailMessage)
    return parsed


class SmtpTransport:
    """Sends stored emails through one SMTP server; every failure is an outcome, not an exception."""

    channel = CHANNEL

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        security: str = "starttls",
        username: str = "",
        password: str = "",
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not host or not 0 < port < 65536:
            raise ValueError(f"an SMTP server needs a host and a port, got {host!r}:{port}")
        if security not in SECURITY:
            raise ValueError(f"SMTP security must be one of {SECURITY}, got {security!r}")
        if timeout <= 0:
            raise ValueError("SMTP timeout must be > 0")
        envelope = parseaddr(sender)[1]
        if "@" not in envelope:
            raise ValueError(f"the SMTP sender {sender!r} is not an address")
        if username and security == "none":
            log.warning("SMTP login to %s:%d without TLS (FAQBOT_SMTP_SECURITY=none): the password is sent in clear",
                        host, port)  # fmt: skip
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.timeout = timeout
        self.envelope_sender = envelope
        self._password = password
        self._context = ssl_context

    @classmethod
    def from_settings(cls, settings: Settings, ssl_context: ssl.SSLContext | None = None) -> SmtpTransport:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout,
            ssl_context=ssl_context,
        )

    @property
    def lease_seconds(self) -> float:
        return SMTP_STEPS * self.timeout

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def send(self, row: OutboxRow) -> SendOutcome:
        try:
            message = parse(row.body)
        except Exception as exc:  # a stored row that no longer parses can never be sent
            return SendOutcome(short_error(f"the stored email does not parse: {exc}"), permanent=True)
        try:
            smtp = self._open()
        except smtplib.SMTPAuthenticationError as exc:
            return SendOutcome(f"{self.address} refused the login: {_reply(exc)}", stop=True)
        except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError is an OSError
            return SendOutcome(short_error(f"cannot reach {self.address}: {type(exc).__name__}: {exc}"), stop=True)
        try:
            smtp.send_message(message, from_addr=self.envelope_sender, to_addrs=[row.receiver])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (0, b""))
            permanent = 500 <= code < 600
            return SendOutcome(short_error(f"{self.address} refused {row.receiver}: {code} {_text(text)}"), permanent)
        except smtplib.SMTPDataError as exc:
            permanent = 500 <= exc.smtp_code < 600
            return SendOutcome(f"{self.address} refused the email: {_reply(exc)}", permanent)
        except smtplib.SMTPSenderRefused as exc:
            return SendOutcome(f"{self.address} refused the sender {self.envelope_sender}: {_reply(exc)}", stop=True)
        except (smtplib.SMTPException, OSError) as exc:
            return SendOutcome(short_error(f"{self.address}: {type(exc).__name__}: {exc}"), stop=True)
        finally:
            _close(smtp)
        return SendOutcome()

    def check(self, timeout: float | None = None) -> str | None:
        """Connect, secure, log in and say goodbye: None when all of it works, else what failed."""
        try:
            smtp = self._open(timeout)
        except smtplib.SMTPAuthenticationError as exc:
            return f"{self.address} refused the login: {_reply(exc)}"
        except (smtplib.SMTPException, OSError) as exc:
            return short_error(f"cannot reach {self.address}: {type(exc).__name__}: {exc}")
        try:
            code, text = smtp.noop()
            if code != 250:
                return short_error(f"{self.address} answered NOOP with {code} {_text(text)}")
        except (smtplib.SMTPException, OSError) as exc:
            return short_error(f"{self.address}: {type(exc).__name__}: {exc}")
        finally:
            _close(smtp)
        return None

    def _open(self, timeout: float | None = None) -> smtplib.SMTP:
        """A connection, secured and logged in as configured."""
        timeout = timeout or self.timeout
        hostname = socket.gethostname()  # not getfqdn(): that may wait on DNS
        context = self._context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, local_hostname=hostname, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, local_hostname=hostname, timeout=timeout)
        try:
            if self.security == "starttls":
                smtp.ehlo()
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self._password)
        except BaseException:
            _close(smtp)
            raise
        return smtp


def _text(raw: Any) -> str:
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return short_error(f"{exc.smtp_code} {_text(exc.smtp_error)}")


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT, ignoring how the server answers it: the email, if any, was accepted before."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
