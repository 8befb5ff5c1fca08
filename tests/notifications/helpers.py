"""Building blocks for the email tests: turn a campaign's emails on, run a worker, read what was sent."""

from __future__ import annotations

from typing import Any

from django.core import mail
from django.core.mail import EmailMultiAlternatives

from referloop.accounts.models import Account
from referloop.campaigns.models import Campaign
from referloop.integrations.engine.worker import WorkerReport
from referloop.integrations.models import Delivery
from referloop.notifications.catalog import SPECS
from referloop.notifications.models import Email, EmailTemplate
from tests.integrations.engine.helpers import drain, no_retry_wait

ADDRESS = "1200 Congress Ave\nAustin, TX 78701"


def turn_on(campaign: Campaign, *notifications: str, subject: str = "", body: str = "") -> None:
    """The notifications on, with their default wording (or the subject/body given)."""
    for name in notifications or tuple(SPECS):
        spec = SPECS[name]
        EmailTemplate.objects.update_or_create(
            campaign=campaign,
            notification=name,
            defaults={"enabled": True, "subject": subject or spec.subject, "body": body or spec.body},
        )


def give_address(account: Account, address: str = ADDRESS) -> None:
    Account.objects.filter(pk=account.pk).update(postal_address=address)
    account.refresh_from_db()


def send_all(**overrides: Any) -> WorkerReport:
    """A worker until nothing is due; retries are due at once (no 10 s wait)."""
    return drain(retry=no_retry_wait(), follow=False, **overrides)


def sent() -> list[EmailMultiAlternatives]:
    return list(mail.outbox)  # type: ignore[attr-defined]


def sent_to(address: str) -> list[EmailMultiAlternatives]:
    return [message for message in sent() if message.to == [address]]


def html_of(message: EmailMultiAlternatives) -> str:
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return str(content)


def delivery_of(email: Email) -> Delivery:
    return Delivery.objects.get(email=email)


def email_of(notification: str, to: str) -> Email:
    return Email.objects.get(notification=notification, to_email=to)
