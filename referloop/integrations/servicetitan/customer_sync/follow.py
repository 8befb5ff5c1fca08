"""A linked referrer follows later changes of its ServiceTitan customer, in bulk (a fixed number of queries per page).

- A referrer the sync created (`CustomerLink.created_referrer`, source "servicetitan") takes the customer's name,
  email and phone (per the sync's Map Fields) whenever they differ: it stands for that customer and nobody typed
  its fields. Only the link that created it drives it: a second customer linked to it (two records, one email)
  changes nothing, so two customers never pull one referrer back and forth.
- A referrer who joined themselves (or was added by hand or CSV) and was only linked keeps what they typed; a blank
  phone is filled from the customer's, nothing is ever overwritten.
- A changed email that another referrer of the campaign already has (emails are unique per campaign, any case) is
  not applied: the customer's outcome is EMAIL_TAKEN and the other fields are still followed. An email its holder
  gives up in the same batch (its own customer's email changed too) is free: the give-ups are written before the
  take-overs. A true swap (or cycle) between referrers stays refused: each holds the other's email until its own
  change is written. The check is read first; someone joining with that email between the read and the write is
  caught by the database constraint in a savepoint and ends the same way, never as an IntegrityError.
- A customer whose email was removed in ServiceTitan (NewReferrer.email "") still has its name and phone followed;
  the referrer's email stays as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from referloop.campaigns.models import Campaign, Referrer
from referloop.integrations.servicetitan.customer_sync.choose import NewReferrer
from referloop.integrations.servicetitan.customer_sync.models import Outcome

SOURCE = "servicetitan"  # Referrer.source of a referrer the sync created
CHUNK = 500  # ids per IN (…): well under SQLite's variable limit
FOLLOWED = ("first_name", "last_name", "email", "phone")


@dataclass(frozen=True)
class Link:
    """A customer's existing CustomerLink: which referrer, and whether the sync created it for this customer."""

    customer_id: int
    referrer_id: int
    created_referrer: bool


@dataclass
class _Change:
    referrer: Referrer
    fields: dict[str, str]
    customers: list[int]  # whose outcome is UPDATED when the change is saved
    email_taken: list[int]  # whose changed email was not applied
    after: int = 0  # written in this round: after the changes that give up the email it takes (0: none)


def follow(campaign: Campaign, linked: Sequence[tuple[Link, NewReferrer]]) -> dict[int, str]:
    """Bring the linked referrers up to date with their customers; the outcome per customer id (KEPT, UPDATED or
    EMAIL_TAKEN)."""
    outcomes = {link.customer_id: str(Outcome.KEPT) for link, _ in linked}
    referrers = _referrers(campaign, [link.referrer_id for link, _ in linked])
    changes: dict[int, _Change] = {}
    wanted_emails: list[tuple[Link, Referrer, str]] = []
    for link, new in linked:
        referrer = referrers.get(link.referrer_id)
        pending = changes.get(link.referrer_id)
        if referrer is None or (not link.created_referrer and pending is not None and pending.fields):
            continue  # a joined referrer linked to two customers of this page: the first fills its phone
        fields = wanted(referrer, link, new)
        email = fields.pop("email", None)
        if email is not None:
            wanted_emails.append((link, referrer, email))
        _record(changes, referrer, link.customer_id, fields)
    _claim_emails(campaign, wanted_emails, changes)
    _save(list(changes.values()))
    for change in changes.values():
        for customer_id in change.customers:
            outcomes[customer_id] = Outcome.UPDATED
        for customer_id in change.email_taken:
            outcomes[customer_id] = Outcome.EMAIL_TAKEN
    return outcomes


def wanted(referrer: Referrer, link: Link, new: NewReferrer) -> dict[str, str]:
    """The fields of `referrer` that should change to follow its customer (none: it is up to date or not ours)."""
    if link.created_referrer and referrer.source == SOURCE:
        fields: dict[str, str] = {}
        if referrer.first_name != new.first_name:
            fields["first_name"] = new.first_name
        if referrer.last_name != new.last_name:
            fields["last_name"] = new.last_name
        if referrer.phone != new.phone:
            fields["phone"] = new.phone
        if new.email and referrer.email.lower() != new.email:  # "": removed in ServiceTitan, the email stays
            fields["email"] = new.email
        return fields
    if referrer.source != SOURCE and not referrer.phone.strip() and new.phone:
        return {"phone": new.phone}  # what they typed is theirs; only a blank is filled
    return {}


def fill_phones(pairs: Iterable[tuple[Referrer, NewReferrer]]) -> None:
    """A referrer who joined themselves, just linked to a customer: a blank phone is filled (one UPDATE)."""
    filled: dict[int, Referrer] = {}
    for referrer, new in pairs:
        if referrer.pk not in filled and referrer.source != SOURCE and not referrer.phone.strip() and new.phone:
            referrer.phone = new.phone
            filled[referrer.pk] = referrer
    if filled:
        Referrer.objects.bulk_update(list(filled.values()), ["phone"], batch_size=CHUNK)


def _record(changes: dict[int, _Change], referrer: Referrer, customer_id: int, fields: dict[str, str]) -> None:
    change = changes.setdefault(referrer.pk, _Change(referrer, {}, [], []))
    fresh = {name: value for name, value in fields.items() if change.fields.get(name, getattr(referrer, name)) != value}
    if fresh:
        change.fields.update(fresh)
        change.customers.append(customer_id)


def _claim_emails(
    campaign: Campaign, wanted_emails: list[tuple[Link, Referrer, str]], changes: dict[int, _Change]
) -> None:
    """Each changed email goes to its referrer unless another referrer of the campaign has it (or claimed it first in
    this page). An email given up in this page by its holder is free, and its taker is written after the holder
    (`_Change.after`). Claims are tried again while some succeed, so the order of the page does not matter; a swap
    or cycle never frees anything and stays refused, applied at a customer's next change."""
    holders = _holders(campaign, {email for _, _, email in wanted_emails})
    freed: dict[str, int] = {}  # email → the round of the change giving it up
    pending = list(wanted_emails)
    while pending:
        waiting: list[tuple[Link, Referrer, str]] = []
        for link, referrer, email in pending:
            if holders.get(email, referrer.pk) != referrer.pk:
                waiting.append((link, referrer, email))
                continue
            change = changes[referrer.pk]
            holders[email] = referrer.pk
            change.after = max(change.after, freed[email] + 1 if email in freed else 0)
            given_up = referrer.email.lower()
            if given_up != email and holders.get(given_up) == referrer.pk:
                del holders[given_up]
                freed[given_up] = change.after
            if change.fields.get("email") != email:
                change.fields["email"] = email
                change.customers.append(link.customer_id)
        if len(waiting) == len(pending):
            break
        pending = waiting
    for link, referrer, _ in pending:
        changes[referrer.pk].email_taken.append(link.customer_id)


def _save(changes: list[_Change]) -> None:
    """One UPDATE per round, in order: an email given up in this page is written free before its taker writes it
    (a unique index is checked row by row). Nearly always one round."""
    rounds: dict[int, list[_Change]] = {}
    for change in changes:
        if change.fields:
            rounds.setdefault(change.after, []).append(change)
    for number in sorted(rounds):
        _save_round(rounds[number])


def _save_round(changes: list[_Change]) -> None:
    """One UPDATE for all (in a savepoint); if a referrer joined with one of the emails meanwhile, one by one."""
    originals = {change.referrer.pk: change.referrer.email for change in changes}
    names: set[str] = set()
    for change in changes:
        for name, value in change.fields.items():
            setattr(change.referrer, name, value)
        names.update(change.fields)
    try:
        with transaction.atomic():
            Referrer.objects.bulk_update([c.referrer for c in changes], sorted(names), batch_size=CHUNK)
        return
    except IntegrityError:
        pass
    for change in changes:  # the rare race: each in its own savepoint, the email left out where it collides
        try:
            with transaction.atomic():
                change.referrer.save(update_fields=sorted(change.fields))
        except IntegrityError:
            change.referrer.email = originals[change.referrer.pk]
            change.fields.pop("email", None)
            change.email_taken += change.customers
            change.customers = []
            if change.fields:  # the name and phone still follow
                change.referrer.save(update_fields=sorted(change.fields))


def _referrers(campaign: Campaign, ids: Sequence[int]) -> dict[int, Referrer]:
    found: dict[int, Referrer] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), CHUNK):
        found.update(
            (r.pk, r) for r in Referrer.objects.filter(campaign=campaign, pk__in=unique[start : start + CHUNK])
        )
    return found


def _holders(campaign: Campaign, emails: set[str]) -> dict[str, int]:
    """Which referrer of the campaign has each email (any case)."""
    found: dict[str, int] = {}
    ordered = sorted(emails)
    for start in range(0, len(ordered), CHUNK):
        rows = Referrer.objects.filter(campaign=campaign, email__lower__in=ordered[start : start + CHUNK])
        found.update((email.lower(), pk) for pk, email in rows.values_list("pk", "email"))
    return found
