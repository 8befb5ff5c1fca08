"""Emails sent while a person waits for the page: a mail server that is down is a clear message, never a 500.

Sign-up, password reset, invitations and the join page's referral link send their email inside the request.
When the mail server is unreachable or refuses us, the person is told so (`UNAVAILABLE`, with a 503 and the form
again) and nothing is kept that would stand in the way of trying again: the caller writes nothing, or removes
what it wrote. The failure is logged with the email's purpose and the error's kind only: never the body, which
holds a sign-up, reset or invitation link, nor the exception's text, which an SMTP server may fill with an echo
of what it was sent.

`mail_server_reachable` opens (and closes) a connection first. A form that must answer the same for every address
(password reset sends nothing to an address without an account) can then tell everyone about an outage alike,
before it learns anything about the address.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection

from referloop.providers.email.connector import describe  # an error's kind, never its text

logger = logging.getLogger(__name__)

UNAVAILABLE = "We couldn't send the email just now; please try again in a few minutes."


def mail_server_reachable(purpose: str) -> bool:
    """Whether the email backend opens a connection (for SMTP: connects, TLS, logs in); logged when it doesn't."""
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except Exception as error:  # any backend's failure: SMTP, a provider's API, a socket
        logger.error("The mail server is unavailable: the %s email was not sent (%s)", purpose, describe(error))
        return False
    finally:
        with suppress(Exception):  # closing a connection that never opened, or that the server dropped
            connection.close()
    return True


def send_now(subject: str, body: str, to: list[str], *, purpose: str) -> bool:
    """Send one email; False (logged, without its body) when the mail server fails."""
    message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, to)  # as send_mail() builds it
    return send_message(message, purpose=purpose)


def send_message(message: EmailMessage, *, purpose: str) -> bool:
    """Send a prepared email; False (logged, without its body) when the mail server fails."""
    try:
        message.send()
    except Exception as error:  # any backend's failure: SMTP, a provider's API, a socket
        logger.error("The %s email was not sent: the mail server failed (%s)", purpose, describe(error))
        return False
    return True
