"""The email connector's way to the mail server: Django's email backend, one connection per try.

Why Django's backend and not SMTP spoken by the connector: the deployment already configures it (EMAIL_BACKEND
and EMAIL_*, the same server that sends sign-up and reset emails), a deployment may choose another backend (an
email API's), and tests read Django's locmem outbox. The connector (`providers/email/`) stays free of Django: it
is handed `DjangoMailbox` and calls it in a thread.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from referloop.providers.email import Destination, Message

# An SMTP connection without a timeout could wait forever; the engine's deadline would then call the try
# unanswered while its thread still waits. This bounds it well inside the worker's 90 s deadline.
SEND_TIMEOUT_SECONDS = 30.0


class DjangoMailbox:
    """One connection of the configured backend (`fail_silently=False`: the connector judges every failure)."""

    def __init__(self) -> None:
        self.connection = get_connection(fail_silently=False)
        if hasattr(self.connection, "timeout") and self.connection.timeout is None:
            self.connection.timeout = getattr(settings, "EMAIL_TIMEOUT", None) or SEND_TIMEOUT_SECONDS

    def open(self) -> None:
        self.connection.open()

    def send(self, destination: Destination, message: Message) -> int:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=destination.from_email,
            to=[message.to],
            reply_to=[destination.reply_to] if destination.reply_to else None,
            headers={**message.headers, "Message-ID": message.message_id},
            connection=self.connection,
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        return self.connection.send_messages([email]) or 0

    def close(self) -> None:
        self.connection.close()
