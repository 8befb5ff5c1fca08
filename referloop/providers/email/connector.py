"""Email as a delivery-engine connector: one message handed to a mail server, and never handed over twice.

A try opens a connection to the mail server, hands the message over and closes the connection. The connector
does not speak SMTP itself: it is given a `Mailbox` factory by the Django side (`notifications/mailer.py`), which
wraps Django's email backend, so the deployment's EMAIL_* settings, any backend a deployment chooses (SMTP, an
email API's backend) and the tests' locmem outbox all apply, and this package stays free of Django. The
backends block, so a try runs in a thread and the event loop only awaits it.

Exactly once. SMTP has no way to ask "did you take message X?", so unlike a ServiceTitan booking an unclear try
can't be settled by a lookup, and unlike a webhook the receiver (a person's inbox) does not drop duplicates
reliably. So the line is drawn at the hand-over:

- nothing was handed over (no connection, login refused), or the server answered the hand-over with an error
  code (4xx: try later; 5xx: refused) - the message was not accepted, so trying again can't duplicate it;
- the hand-over began and no answer came (the connection broke, a timeout, the worker's deadline or shutdown, a
  worker that died mid-try) - it may have been accepted. The try is recorded as ambiguous and the next try does
  NOT send: it fails the email for a person to review ("never sent twice" beats "always sent"). The email keeps
  one Message-ID for all its tries, so if a person resends it after checking the mail server's log, most inbox
  providers recognise a duplicate that did arrive.

A try abandoned by the engine (its deadline, a shutdown) must not go on to send from its thread after the
engine has been told "nothing was sent": the thread marks the hand-over under a lock that the abandoning side
also takes, so `progress.sent` is final once the engine reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from referloop.providers.base import Outcome, Progress, Tried
from referloop.providers.transport import AsyncSender

NAME = "email"
SERVER_TEXT_LIMIT = 300  # characters of the mail server's answer kept on the Attempt
NOT_SENT_AGAIN = (
    "It is not sent again automatically, so the recipient never gets it twice: if it did not arrive (search the "
    "mail server's log for Message-ID {message_id}), send it again from the referrer's page."
)


@dataclass(frozen=True)
class Destination:
    """Who sends: one account's sender address (its name on referloop's address)."""

    account_id: int
    from_email: str
    reply_to: str = ""


@dataclass(frozen=True)
class Message:
    """One email as it goes out. `headers`: List-Unsubscribe and the like (never Message-ID: `message_id`)."""

    to: str
    subject: str
    text: str
    html: str
    message_id: str  # "<…@…>": the same on every try of this email
    headers: Mapping[str, str] = field(default_factory=dict)

    def as_payload(self) -> dict[str, object]:
        return {
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "message_id": self.message_id,
            "headers": dict(self.headers),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, object]) -> Message:
        headers = payload.get("headers") or {}
        assert isinstance(headers, Mapping)
        return cls(
            to=str(payload["to"]),
            subject=str(payload["subject"]),
            text=str(payload["text"]),
            html=str(payload.get("html") or ""),
            message_id=str(payload["message_id"]),
            headers={str(key): str(value) for key, value in headers.items()},
        )


class Mailbox(Protocol):
    """One connection to the mail server, used by one try in one thread."""

    def open(self) -> None:
        """Connect (and log in). Raises if it can't: nothing was handed over."""
        ...

    def send(self, destination: Destination, message: Message) -> int:
        """Hand the message over; how many messages the server accepted (1). Raises as the server or network did."""
        ...

    def close(self) -> None: ...


def describe(error: BaseException) -> str:
    """An error's kind for a sentence: its class and SMTP code or errno, never its text (which may echo the mail)."""
    kind = type(error).__name__
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{kind} {error.smtp_code}"
    if isinstance(error, OSError) and error.errno is not None:
        return f"{kind} errno {error.errno}"
    return kind


class EmailConnector:
    name = NAME
    label = "the mail server"

    def __init__(self, mailbox: Callable[[], Mailbox]) -> None:
        self.mailbox = mailbox

    def calls_per_try(self, settle_first: bool, payload: Mapping[str, object] | None = None) -> int:
        return 1

    async def deliver(
        self,
        destination: Any,
        payload: Mapping[str, object],
        *,
        settle_first: bool,
        sender: AsyncSender,
        progress: Progress,
    ) -> Tried:
        """`payload`: a `Message.as_payload()`, or {"error": why it could not be made}. `sender` (HTTP) is not
        used: the mailbox reaches the mail server."""
        assert isinstance(destination, Destination)
        if "error" in payload:  # the Django side could not make the message
            return Tried(Outcome.INVALID_DATA, f"{payload['error']} Nothing was sent.", context=_context(destination))
        message = Message.from_payload(payload)
        if settle_first:
            return Tried(
                Outcome.PERMANENT,
                "An earlier try may have reached the mail server (it got no answer after the message was handed "
                "over). " + NOT_SENT_AGAIN.format(message_id=message.message_id),
                external_id=message.message_id,
                may_exist=True,
                context=_context(destination),
            )
        gate = _Gate(progress)
        try:
            return await asyncio.to_thread(self._try, destination, message, gate)
        finally:
            gate.abandon()  # a no-op once the thread has finished; else the thread must not hand the message over

    def unanswered(self, what: str, *, sent: bool, settle_first: bool) -> Tried:
        what = what[:1].upper() + what[1:]
        if sent:
            return Tried(
                Outcome.AMBIGUOUS,
                f"{what} after the message was handed to the mail server, so it may have been accepted. It is not "
                "sent again automatically: the email fails for you to check, so the recipient never gets it twice.",
                may_exist=True,
            )
        return Tried(Outcome.TRANSIENT, f"{what} before the message was handed over; it will be tried again.")

    def _try(self, destination: Destination, message: Message, gate: _Gate) -> Tried:
        """In a worker thread: connect, hand over, close. Never raises."""
        values: dict[str, Any] = {
            "external_id": message.message_id,
            "requests": (_summary(destination, message),),
            "context": _context(destination),
        }
        try:
            mailbox = self.mailbox()
            mailbox.open()
        except Exception as error:  # any backend's failure to connect or log in: nothing was handed over
            return Tried(Outcome.TRANSIENT, _not_connected(error), **values)
        try:
            if not gate.hand_over():
                return Tried(Outcome.TRANSIENT, "The try was stopped before the message was handed over.", **values)
            try:
                accepted = mailbox.send(destination, message)
            except Exception as error:
                return _judged(error, message, values)
            if not accepted:
                return Tried(
                    Outcome.PERMANENT,
                    "The email backend accepted no message (it found no recipient to send to).",
                    **values,
                )
            return Tried(Outcome.DELIVERED, "The mail server accepted the email.", **values)
        finally:
            with contextlib.suppress(Exception):  # closing a connection the server dropped: the outcome stands
                mailbox.close()


class _Gate:
    """The hand-over, decided once under a lock: either the thread hands the message over (and `progress.sent`
    says so before the engine can read it) or the awaiting side abandoned the try first and it never will."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.lock = threading.Lock()
        self.abandoned = False

    def hand_over(self) -> bool:
        with self.lock:
            if self.abandoned:
                return False
            self.progress.sent = True
            return True

    def abandon(self) -> None:
        with self.lock:
            self.abandoned = True


def _summary(destination: Destination, message: Message) -> dict[str, object]:
    """What the Attempt keeps: never the body or the unsubscribe link (a capability for the recipient alone)."""
    return {
        "method": "SMTP",
        "from": destination.from_email,
        "to": message.to,
        "subject": message.subject,
        "message_id": message.message_id,
        "headers": sorted(message.headers),
    }


def _context(destination: Destination) -> dict[str, object]:
    return {"account_id": destination.account_id}


def _not_connected(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return (
            f"The mail server refused referloop's login ({describe(error)}): check the deployment's email settings "
            "(REFERLOOP_EMAIL_HOST_USER and _PASSWORD). Nothing was sent; it will be tried again."
        )
    return f"Could not connect to the mail server ({describe(error)}). Nothing was sent; it will be tried again."


def _server_text(raw: object, message: Message) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    for header in message.headers.values():  # a server that echoes what it got must not expose the link
        text = text.replace(header, "[…]")
    return text[:SERVER_TEXT_LIMIT]


def _judged(error: BaseException, message: Message, values: dict[str, Any]) -> Tried:
    """A hand-over that raised. An SMTP error code is the server's answer (not accepted); anything else is not."""
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        code, said = next(iter(error.recipients.values()))
        return _refused(int(code), f"the address {message.to}", _server_text(said, message), values)
    if isinstance(error, smtplib.SMTPSenderRefused):
        return _refused(error.smtp_code, "the sender address", _server_text(error.smtp_error, message), values)
    if isinstance(error, smtplib.SMTPResponseException):
        return _refused(error.smtp_code, "the email", _server_text(error.smtp_error, message), values)
    return Tried(
        Outcome.AMBIGUOUS,
        f"The mail server did not answer after the message was handed over ({describe(error)}), so it may have "
        "been accepted. " + NOT_SENT_AGAIN.format(message_id=message.message_id),
        may_exist=True,
        **values,
    )


def _refused(code: int, what: str, said: str, values: dict[str, Any]) -> Tried:
    answer = f"{code} {said}".strip()
    if 400 <= code < 500:
        return Tried(
            Outcome.TRANSIENT,
            f"The mail server turned down {what} for now ({code}); it was not accepted and will be tried again.",
            response_status=code,
            response_text=answer,
            **values,
        )
    return Tried(
        Outcome.PERMANENT,
        f"The mail server refused {what} ({code}): it was not sent. Fix the cause, then send it again.",
        response_status=code,
        response_text=answer,
        **values,
    )
