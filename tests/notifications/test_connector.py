"""The email connector alone (no Django, no database): what counts as sent, and a try abandoned mid-way."""

from __future__ import annotations

import asyncio
import smtplib
import threading
from typing import Any

import pytest

from referloop.providers.base import Outcome, Progress
from referloop.providers.email import Destination, EmailConnector, Message

DESTINATION = Destination(account_id=1, from_email="Comfort Pro <no-reply@example.com>")
MESSAGE = Message(
    to="maria@example.com",
    subject="Hello",
    text="Hi",
    html="<p>Hi</p>",
    message_id="<referloop.abc@example.com>",
    headers={"List-Unsubscribe": "<https://example.com/u/secret-token/>"},
)


class Recorder:
    """A mailbox that does what it is told and records what reached it."""

    def __init__(self, *, on_open: BaseException | None = None, on_send: BaseException | None = None) -> None:
        self.on_open, self.on_send = on_open, on_send
        self.handed: list[Message] = []
        self.closed = False
        self.opening = threading.Event()
        self.go_on = threading.Event()
        self.go_on.set()

    def __call__(self) -> Recorder:
        return self

    def open(self) -> None:
        self.opening.set()
        self.go_on.wait(5)
        if self.on_open is not None:
            raise self.on_open

    def send(self, destination: Destination, message: Message) -> int:
        self.handed.append(message)
        if self.on_send is not None:
            raise self.on_send
        return 1

    def close(self) -> None:
        self.closed = True


def deliver(mailbox: Recorder, *, settle_first: bool = False, payload: Any = None) -> tuple[Any, Progress]:
    progress = Progress()
    tried = asyncio.run(
        EmailConnector(mailbox).deliver(
            DESTINATION,
            payload if payload is not None else MESSAGE.as_payload(),
            settle_first=settle_first,
            sender=None,  # type: ignore[arg-type]
            progress=progress,
        )
    )
    return tried, progress


def test_an_accepted_message_is_delivered_with_its_message_id_and_no_body_or_link_kept() -> None:
    mailbox = Recorder()

    tried, progress = deliver(mailbox)

    assert tried.outcome == Outcome.DELIVERED and progress.sent and mailbox.closed
    assert mailbox.handed == [MESSAGE]
    assert tried.external_id == MESSAGE.message_id
    [summary] = tried.requests
    assert summary == {
        "method": "SMTP",
        "from": DESTINATION.from_email,
        "to": "maria@example.com",
        "subject": "Hello",
        "message_id": MESSAGE.message_id,
        "headers": ["List-Unsubscribe"],
    }


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (smtplib.SMTPDataError(451, b"try later"), Outcome.TRANSIENT),
        (smtplib.SMTPDataError(554, b"spam"), Outcome.PERMANENT),
        (smtplib.SMTPSenderRefused(553, b"not yours", "no-reply@example.com"), Outcome.PERMANENT),
        (smtplib.SMTPRecipientsRefused({"maria@example.com": (450, b"mailbox busy")}), Outcome.TRANSIENT),
        (smtplib.SMTPRecipientsRefused({"maria@example.com": (550, b"no such user")}), Outcome.PERMANENT),
        (smtplib.SMTPServerDisconnected("gone"), Outcome.AMBIGUOUS),
        (TimeoutError("timed out"), Outcome.AMBIGUOUS),
        (RuntimeError("an email API's own error"), Outcome.AMBIGUOUS),
    ],
)
def test_an_answer_with_a_code_was_not_accepted_and_anything_else_may_have_been(
    error: BaseException, outcome: Outcome
) -> None:
    tried, progress = deliver(Recorder(on_send=error))

    assert tried.outcome == outcome and progress.sent
    assert tried.may_exist == (outcome == Outcome.AMBIGUOUS)


def test_a_connection_or_login_that_fails_sent_nothing_and_is_tried_again() -> None:
    for error in (ConnectionRefusedError(111, "refused"), smtplib.SMTPAuthenticationError(535, b"bad login")):
        mailbox = Recorder(on_open=error)
        tried, progress = deliver(mailbox)
        assert tried.outcome == Outcome.TRANSIENT and not progress.sent and mailbox.handed == []
    assert "REFERLOOP_EMAIL_HOST_USER" in tried.sentence


def test_a_try_after_one_that_may_have_arrived_sends_nothing_and_fails_for_review() -> None:
    mailbox = Recorder()

    tried, progress = deliver(mailbox, settle_first=True)

    assert tried.outcome == Outcome.PERMANENT and tried.may_exist
    assert mailbox.handed == [] and not progress.sent
    assert MESSAGE.message_id in tried.sentence


def test_a_message_the_django_side_could_not_make_is_invalid_and_nothing_is_sent() -> None:
    mailbox = Recorder()

    tried, _ = deliver(mailbox, payload={"error": "referloop could not make the email (KeyError)."})

    assert tried.outcome == Outcome.INVALID_DATA and mailbox.handed == []


def test_a_try_abandoned_while_connecting_never_hands_the_message_over_afterwards() -> None:
    mailbox = Recorder()
    mailbox.go_on.clear()  # the connection hangs until released
    progress = Progress()
    seen: list[bool] = []

    async def abandon() -> None:
        connector = EmailConnector(mailbox)
        task = asyncio.create_task(
            connector.deliver(DESTINATION, MESSAGE.as_payload(), settle_first=False, sender=None, progress=progress)  # type: ignore[arg-type]
        )
        await asyncio.to_thread(mailbox.opening.wait, 5)
        task.cancel()  # the engine's deadline, or a shutdown
        with pytest.raises(asyncio.CancelledError):
            await task
        seen.append(progress.sent)  # what the engine reads now: nothing was sent, so a retry is safe...
        mailbox.go_on.set()  # the connection comes through after all

    asyncio.run(abandon())  # returns once the try's thread has finished (it shuts the default executor down)

    assert seen == [False] and mailbox.closed
    assert mailbox.handed == []  # ...and the thread did not send it behind the engine's back


def test_a_try_stopped_after_the_hand_over_is_ambiguous_and_before_it_transient() -> None:
    connector = EmailConnector(Recorder())

    after = connector.unanswered("the mail server did not answer within 90 seconds", sent=True, settle_first=False)
    before = connector.unanswered("the worker was stopped", sent=False, settle_first=False)

    assert (after.outcome, after.may_exist) == (Outcome.AMBIGUOUS, True)
    assert after.sentence.startswith("The mail server did not answer within 90 seconds after the message was handed")
    assert before.outcome == Outcome.TRANSIENT
