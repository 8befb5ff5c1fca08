"""Queueing emails: an `Email` and its `Delivery` row, written in the transaction of what the email reports.

Like a lead's booking and a webhook event, an email is never lost and never sent for something that was rolled
back: the hooks below run inside the transaction that admits the lead (`campaigns.admission.on_lead_admitted`),
qualifies it (`campaigns.outcomes.on_qualified`) or issues the reward (`rewards`), and the worker sends the row.

Which emails are written:

- only the notifications the campaign turned on (Campaign Settings → Emails; all are off until then). A turned-off
  email writes nothing, so campaigns without emails pay one query per lead;
- each once (`Email.key`): a lead qualified, unqualified and qualified again gets one "qualified" email;
- none for leads imported from a CSV file: an import is usually past referrals, and neither the friend nor the
  referrer should get a burst of emails about them (the lead's later "qualified" email is sent as usual);
- to an address that unsubscribed, a referrer email is written as *skipped*, with the reason, so the referrer's
  page says why nothing went; the friend's confirmation is transactional and is sent regardless;
- a referrer email of an account without a postal address waits *held* (the law asks marketing mail to carry one)
  and goes out when the address is saved.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from referloop.accounts.models import Account
from referloop.campaigns.admission import welcomes
from referloop.campaigns.models import Campaign, Lead, Referrer
from referloop.integrations import deliveries
from referloop.integrations.models import Delivery, DeliveryState
from referloop.notifications.models import MARKETING, Email, EmailTemplate, Notification
from referloop.notifications.unsubscribe import skip_reason, unsubscribed_at
from referloop.providers.email import NAME
from referloop.runtime import plain_sql

if TYPE_CHECKING:
    from referloop.rewards.models import Reward

logger = logging.getLogger(__name__)

ADDRESS_MISSING = (
    "Waiting for your business's postal address (Campaign Settings → Emails): the law asks for it at the foot of "
    "every marketing email. Referrer emails go out as soon as it is saved."
)
RESENDABLE = frozenset({DeliveryState.FAILED})


def rate_key(account_id: int) -> str:
    """Each account's emails share one budget, apart from every ServiceTitan tenant's: a burst of emails is
    paced on its own and can't hold up bookings (the claim shares each round between rate keys)."""
    return f"email:{account_id}"


def new_message_id() -> str:
    """The email's Message-ID, the same on every try and resend: most inboxes drop a second copy by it."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "referloop.local"
    return f"<referloop.{secrets.token_hex(12)}@{domain}>"


def hold_reason(notification: str, postal_address: str) -> str:
    """Why the email can't go yet ("" when it can): referrer emails need the account's postal address."""
    if notification in MARKETING and not postal_address.strip():
        return ADDRESS_MISSING
    return ""


@dataclass(frozen=True)
class Wanted:
    """One email a change asks for."""

    notification: str
    to_email: str
    key: str  # unique: the same change can't queue it twice
    context: Mapping[str, object] = field(default_factory=dict)


def queue(
    campaign: Campaign, referrer: Referrer, lead: Lead | None, wanted: Sequence[Wanted], now: datetime | None = None
) -> list[Email]:
    """Write the wanted emails that the campaign sends and that were not written before; the ones written."""
    turned_on = _turned_on(campaign.pk, {item.notification for item in wanted})
    wanted = [item for item in wanted if item.notification in turned_on and item.to_email]
    if not wanted:
        return []
    written = set(Email.objects.filter(key__in=[item.key for item in wanted]).values_list("key", flat=True))
    wanted = [item for item in wanted if item.key not in written]
    now = now or timezone.now()
    postal_address = Account.objects.filter(pk=campaign.account_id).values_list("postal_address", flat=True).get()
    made = []
    for item in wanted:
        email = Email(
            account_id=campaign.account_id,
            campaign=campaign,
            referrer=referrer,
            lead=lead,
            notification=item.notification,
            to_email=item.to_email,
            context=dict(item.context),
            message_id=new_message_id(),
            key=item.key,
            created_at=now,
        )
        delivery = new_delivery(email, postal_address, now)
        try:
            with transaction.atomic():  # a savepoint: a race on `key` costs this email, not the caller's change
                email.save()
                delivery.email = email
                delivery.save()
        except IntegrityError:
            logger.info("email %s was queued by another transaction meanwhile", item.key)
            continue
        made.append(email)
    return made


def new_delivery(email: Email, postal_address: str, now: datetime) -> Delivery:
    """The row that sends `email`: pending; skipped if its address unsubscribed; held without a postal address."""
    delivery = Delivery(
        connector=NAME,
        state=DeliveryState.PENDING,
        rate_key=rate_key(email.account_id),
        next_attempt_at=now,
        created_at=now,
    )
    opted_out = unsubscribed_at(email.account_id, email.to_email) if email.marketing else None
    if opted_out is not None:
        delivery.state = DeliveryState.SKIPPED
        delivery.reason = skip_reason(opted_out)
        delivery.next_attempt_at = None
        return delivery
    reason = hold_reason(email.notification, postal_address)
    if reason:
        for name, value in deliveries.held(reason, now).items():
            setattr(delivery, name, value)
    return delivery


def release_addressed(account_id: int | None = None, now: datetime | None = None) -> int:
    """Referrer emails held for the postal address go out, for the accounts that have one now."""
    rows = Delivery.objects.filter(
        connector=NAME, state=DeliveryState.HELD, held_reason=ADDRESS_MISSING, email__account__postal_address__gt=""
    )
    if account_id is not None:
        rows = rows.filter(email__account_id=account_id)
    return rows.update(**deliveries.released(now or timezone.now()))


def resend(email: Email, now: datetime | None = None) -> bool:
    """A person checked that a failed email did not arrive: it goes out again, with the same Message-ID."""
    now = now or timezone.now()
    done = Delivery.objects.filter(email=email, state__in=RESENDABLE, lease_expires_at__isnull=True).update(
        **deliveries.resent(now, settle_first=False), last_error=""
    )
    return bool(done)


def _turned_on(campaign_id: int, notifications: set[str]) -> set[str]:
    """Which of these notifications the campaign sends: one plain query (the ORM's cost ~0.25 ms a lead)."""
    if not notifications:
        return set()
    source, params = _templates_on(campaign_id, notifications)
    column = plain_sql.column(EmailTemplate, "notification")
    return {notification for (notification,) in plain_sql.fetch(f"SELECT {column} {source}", params)}


def _templates_on(campaign_id: int, notifications: set[str]) -> tuple[str, list[object]]:
    """`FROM … WHERE …` of the campaign's templates of these notifications that are on, and its parameters."""
    column = functools.partial(plain_sql.column, EmailTemplate)
    marks = ", ".join(["%s"] * len(notifications))
    source = (
        f"FROM {plain_sql.table(EmailTemplate)} "
        f"WHERE {column('campaign_id')} = %s AND {column('enabled')} = %s AND {column('notification')} IN ({marks})"
    )
    return source, [campaign_id, True, *sorted(notifications)]


# -- the changes that send emails (hooks, registered in apps.py) ----------------------------------------------------


WELCOMES = (Notification.FRIEND_JOINED, Notification.FRIEND_CONFIRMATION)


def lead_admitted(lead: Lead) -> None:
    """Hook of `campaigns.admission.on_lead_admitted`, asked `welcome_wanted` first: the referrer hears a friend
    joined; the friend a confirmation."""
    queue(
        lead.campaign,
        lead.referrer,
        lead,
        [
            Wanted(Notification.FRIEND_JOINED, lead.referrer.email, f"{Notification.FRIEND_JOINED}:lead:{lead.pk}"),
            Wanted(Notification.FRIEND_CONFIRMATION, lead.email, f"{Notification.FRIEND_CONFIRMATION}:lead:{lead.pk}"),
        ],
    )


def welcome_wanted(lead: Lead) -> plain_sql.Exists | None:
    """`lead_admitted`'s question: whether the campaign sends either welcome at all. Asked of every new lead."""
    if not welcomes(lead):
        return None
    source, params = _templates_on(lead.campaign_id, set(WELCOMES))
    return plain_sql.Exists(f"SELECT 1 {source}", params)


def lead_qualified(lead_id: int, at: datetime) -> None:
    """Hook of `campaigns.outcomes.on_qualified`: the referrer hears their friend qualified (once per lead)."""
    lead = Lead.objects.select_related("campaign", "referrer").get(pk=lead_id)
    key = f"{Notification.FRIEND_QUALIFIED}:lead:{lead.pk}"
    queue(lead.campaign, lead.referrer, lead, [Wanted(Notification.FRIEND_QUALIFIED, lead.referrer.email, key)], at)


def reward_issued(reward: Reward) -> None:
    """Hook of `rewards.actions.on_reward_issued`: the referrer hears what they got, as it was issued.

    A reward for the friend sends nothing here: the issue asks for referrer emails only.
    """
    from referloop.rewards.models import Recipient

    if reward.recipient != Recipient.REFERRER:
        return
    referrer = reward.referrer
    lead = reward.lead
    context = {"reward.summary": reward.payout, "reward.code": reward.code, "reward.note": reward.issue_note}
    key = f"{Notification.REWARD_ISSUED}:reward:{reward.pk}"
    wanted = Wanted(Notification.REWARD_ISSUED, referrer.email, key, context)
    queue(reward.campaign, referrer, lead, [wanted], reward.issued_at)
