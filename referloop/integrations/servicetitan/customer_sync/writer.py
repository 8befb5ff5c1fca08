"""Customers become referrers in bulk: a page of decisions in a fixed number of queries, inside the page's
transaction (store.write_page), following the campaign's rules for referrers.

- A customer already linked stays linked (the link is unique per integration and customer id), and its referrer
  follows the customer's changes (follow.py: fully if the sync created it, only a blank phone if they joined).
- A referrer of the campaign with the same email (any case) is linked, not duplicated (a blank phone of theirs is
  filled); two customers sharing an email in one page become one referrer with two links.
- New referrers get codes by the model's rule (one namespace with lead codes, checked in bulk) and run the
  referrer-joined hooks (webhook `referrer.joined`), as `add_referrer` does. No email is sent: `add_referrer`
  sends none either (only the public join page mails the link, to someone who asked for it). An owner importing
  20,000 customers must not mail them all unasked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from django.db import IntegrityError, transaction

from referloop.campaigns.codes import random_code
from referloop.campaigns.models import Campaign, Lead, Referrer
from referloop.campaigns.referrers import announce_joined
from referloop.integrations.servicetitan.customer_sync.choose import NewReferrer
from referloop.integrations.servicetitan.customer_sync.follow import SOURCE, Link, fill_phones
from referloop.integrations.servicetitan.customer_sync.follow import follow as follow_linked
from referloop.integrations.servicetitan.customer_sync.models import CustomerLink, Outcome
from referloop.integrations.servicetitan.return_fields.hooks import customers_linked

T = TypeVar("T")
CHUNK = 500  # ids per IN (…): well under SQLite's variable limit


def write_referrers(
    integration_id: int,
    campaign: Campaign,
    wanted: Sequence[tuple[int, NewReferrer]],
    now: datetime,
    without_email: Sequence[tuple[int, NewReferrer]] = (),
) -> dict[int, str]:
    """Create or link a referrer for each (customer id, fields); the outcome per customer id. `without_email`:
    customers skipped for having no email whose linked referrer still follows them (choose.Decision.follow); only
    the linked ones get an outcome here."""
    linked = _linked(integration_id, [customer_id for customer_id, _ in (*wanted, *without_email)])
    # Linked customers first: a referrer taking a changed email is then found by email below, never duplicated.
    outcomes = follow_linked(
        campaign,
        [(linked[customer_id], new) for customer_id, new in (*wanted, *without_email) if customer_id in linked],
    )
    todo = [(customer_id, new) for customer_id, new in wanted if customer_id not in linked]
    if not todo:
        return outcomes
    existing = _by_email(campaign, {new.email for _, new in todo})
    fill_phones((existing[new.email], new) for _, new in todo if new.email in existing)
    links: list[CustomerLink] = []
    fresh: dict[str, Referrer] = {}
    creators: dict[str, int] = {}  # email → the customer whose fields the new referrer takes
    for customer_id, new in todo:
        if new.email in existing:
            outcomes[customer_id] = Outcome.LINKED
            referrer = existing[new.email]
            links.append(CustomerLink(integration_id=integration_id, customer_id=customer_id, referrer=referrer))
        elif new.email in fresh:
            outcomes[customer_id] = Outcome.LINKED  # the same email twice in a page: one referrer
        else:
            fresh[new.email] = Referrer(
                campaign=campaign,
                first_name=new.first_name,
                last_name=new.last_name,
                email=new.email,
                phone=new.phone,
                source=SOURCE,
                created_at=now,
            )
            creators[new.email] = customer_id
            outcomes[customer_id] = Outcome.CREATED
    created = _create(campaign, list(fresh.values()))
    for customer_id, new in todo:
        if new.email in fresh:
            referrer, made = created[new.email]
            is_creator = made and creators[new.email] == customer_id
            outcomes[customer_id] = Outcome.CREATED if is_creator else Outcome.LINKED
            links.append(
                CustomerLink(
                    integration_id=integration_id,
                    customer_id=customer_id,
                    referrer=referrer,
                    created_referrer=is_creator,
                    linked_at=now,
                )
            )
    CustomerLink.objects.bulk_create(links, ignore_conflicts=True)
    customers_linked(integration_id, [link.customer_id for link in links])  # return fields, one write row each
    announce_joined([referrer for referrer, made in created.values() if made])
    return outcomes


def _linked(integration_id: int, customer_ids: Sequence[int]) -> dict[int, Link]:
    found: dict[int, Link] = {}
    for chunk in _chunks(customer_ids):
        rows = CustomerLink.objects.filter(integration_id=integration_id, customer_id__in=chunk).values_list(
            "customer_id", "referrer_id", "created_referrer"
        )
        found.update((customer_id, Link(customer_id, referrer_id, made)) for customer_id, referrer_id, made in rows)
    return found


def _by_email(campaign: Campaign, emails: Iterable[str]) -> dict[str, Referrer]:
    found: dict[str, Referrer] = {}
    for chunk in _chunks(sorted(emails)):
        for referrer in Referrer.objects.filter(campaign=campaign, email__lower__in=chunk):
            found[referrer.email.lower()] = referrer
    return found


def _create(campaign: Campaign, referrers: list[Referrer]) -> dict[str, tuple[Referrer, bool]]:
    """Insert the new referrers with free codes; by email, (referrer, created). Someone who joined with the same
    email a moment ago (between our read and this insert) wins, and the customer is linked to them."""
    _give_codes(referrers)
    try:
        with transaction.atomic():
            Referrer.objects.bulk_create(referrers)
        return {r.email: (r, True) for r in referrers}
    except IntegrityError:
        pass
    result: dict[str, tuple[Referrer, bool]] = {}
    for referrer in referrers:  # the rare race: one by one, each in its own savepoint
        referrer.pk = None
        try:
            with transaction.atomic():
                referrer.code = ""
                referrer.save()
            result[referrer.email] = (referrer, True)
        except IntegrityError:
            winner = Referrer.objects.filter(campaign=campaign, email__lower=referrer.email).first()
            if winner is None:
                raise
            result[referrer.email] = (winner, False)
    return result


def _give_codes(referrers: Sequence[Referrer]) -> None:
    """Codes by the model's rule (`code_is_taken`: referrers and leads share one namespace), checked in bulk."""
    pending = list(referrers)
    while pending:
        codes = {random_code(): r for r in pending}
        taken: set[str] = set()
        for chunk in _chunks(sorted(codes)):
            taken.update(Referrer.objects.filter(code__in=chunk).values_list("code", flat=True))
            taken.update(Lead.objects.filter(code__in=chunk).values_list("code", flat=True))
        for code, referrer in codes.items():
            if code not in taken:
                referrer.code = code
        # A code drawn twice in one batch (dict kept the last) or already taken: draw again for those.
        pending = [r for r in pending if not r.code or r.code in taken]


def _chunks(items: Sequence[T]) -> Iterable[list[T]]:
    values = list(items)
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
