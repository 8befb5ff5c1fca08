"""Mail servers that fail in the ways the email connector must tell apart (settings.EMAIL_BACKEND = "tests.…").

Each keeps what it accepted in Django's locmem outbox, so a test reads "sent once" the usual way. The counters
are class attributes (the worker builds a new connection per try); `reset()` before each test.
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from django.core.mail.backends.locmem import EmailBackend as LocmemBackend


class _Scripted(LocmemBackend):
    tries: ClassVar[int] = 0
    lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        cls.tries = 0

    @classmethod
    def count(cls) -> int:
        with cls.lock:
            cls.tries += 1
            return cls.tries


class TemporaryFailureOnce(_Scripted):
    """Answers the first message with 451 (try later): not accepted. Accepts every later one."""

    def send_messages(self, messages: Sequence[Any]) -> int:
        if type(self).count() == 1:
            raise smtplib.SMTPDataError(451, b"4.3.0 Mail server temporarily rejected message")
        return super().send_messages(messages)


class RefusesConnectionOnce(_Scripted):
    """Nobody answers the first connection; later ones connect."""

    def open(self) -> bool:
        if type(self).count() == 1:
            raise ConnectionRefusedError(111, "Connection refused")
        return bool(super().open())


class DropsAfterData(_Scripted):
    """Takes the message (it is in the outbox), then the connection breaks before the server's answer."""

    def send_messages(self, messages: Sequence[Any]) -> int:
        type(self).count()
        super().send_messages(messages)
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class RefusesRecipient(_Scripted):
    """550: no such mailbox, and it echoes the unsubscribe link it was sent."""

    def send_messages(self, messages: Sequence[Any]) -> int:
        type(self).count()
        link = messages[0].extra_headers.get("List-Unsubscribe", "")
        raise smtplib.SMTPRecipientsRefused({messages[0].to[0]: (550, f"5.1.1 No such user {link}".encode())})


class HeldUntilReleased(LocmemBackend):
    """Holds each send until the test calls `release()`: proves a page answered before its email was sent."""

    gate: ClassVar[threading.Event] = threading.Event()

    @classmethod
    def reset(cls) -> None:
        cls.gate = threading.Event()

    @classmethod
    def release(cls) -> None:
        cls.gate.set()

    def send_messages(self, messages: Sequence[Any]) -> int:
        if not type(self).gate.wait(timeout=30):
            raise TimeoutError("the test never released the mail server")
        return super().send_messages(messages)
