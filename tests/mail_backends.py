"""Email backends for tests of a mail server that fails (settings.EMAIL_BACKEND = "tests.mail_backends.…")."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend


class ServerDown(BaseEmailBackend):
    """An SMTP server nobody answers for: connecting is refused."""

    def open(self) -> bool:
        raise ConnectionRefusedError(111, "Connection refused")

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        self.open()
        return 0


class RefusesToSend(BaseEmailBackend):
    """A server that takes the connection, then fails the message (its reply echoing what it was sent)."""

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        body = email_messages[0].body if email_messages else ""
        raise smtplib.SMTPDataError(451, f"Temporary failure, message was: {body}".encode())
