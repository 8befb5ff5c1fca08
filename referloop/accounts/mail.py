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

Those forms must also take as long for an unknown address as for a known one, or the answer's timing tells what
the page's words don't. `send_after_response` hands the finished message to a small thread pool, so the request
returns before the mail server is spoken to. The cost: a message in that pool when the process dies is lost. Both
uses (a password reset, a referrer's sign-in link) are asked for again by the person waiting for it.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
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


# Two threads: these emails are rare (rate-limited per address and IP) and each is one short SMTP exchange.
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")
_pending: set[Future[bool]] = set()
_pending_lock = threading.Lock()


def send_after_response(message: EmailMessage, *, purpose: str) -> None:
    """Send a prepared email from the pool; its failure is logged by `send_message`, as a failure in the request
    would be. The message must be complete: the pool's threads touch no database."""
    future = _pool.submit(send_message, message, purpose=purpose)
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future[bool]) -> None:
    with _pending_lock:
        _pending.discard(future)


def wait_for_sending(timeout: float = 10.0) -> None:
    """Block until the emails handed to the pool so far are sent or failed (the tests read the outbox after)."""
    with _pending_lock:
        pending = list(_pending)
    wait(pending, timeout=timeout)
