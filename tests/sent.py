"""Django's locmem outbox, read once the emails sent after the response (accounts/mail.py) have gone out."""

from __future__ import annotations

from django.core import mail
from django.core.mail import EmailMessage

from referloop.accounts.mail import wait_for_sending


def outbox() -> list[EmailMessage]:
    wait_for_sending()
    return mail.outbox  # type: ignore[attr-defined,no-any-return]
