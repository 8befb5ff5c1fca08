"""Known customers: is a lead already one of the tenant's ServiceTitan customers? Asked before its booking is sent.

ServiceTitan documents no way to find a customer by email, and one call (`find_customers_by_phone`) by phone. So a
lead is looked up in three places, cheapest first:

1. the local index (`CustomerIndex`), at claim time, for the whole claim at once: a copy of the tenant's customers'
   contacts that the customer sync keeps (customer_sync/index.py). When the copy *covers* the integration (complete
   and fresh), a key it does not know is nobody's: the lead is a first-time client, no call, no warning. Otherwise
   (no copy yet, still copying, stale) the steps below run as if it knew nobody else;
2. Django's cache (Redis in production), at claim time: what an earlier phone lookup of this integration answered,
   "nobody" included, for `CACHE_SECONDS`;
3. otherwise, when the lead has a phone, one phone lookup made by the connector in the delivery try, in the
   tenant's rate budget (the claim counts it in the try's cost). It is bounded in time: if ServiceTitan cannot
   answer, the booking goes out with the mapping's fallback value and the attempt says why.

So a lead costs at most one ServiceTitan call, none when the index or the cache answers (in steady state, a covering
copy answers every lead), and the web request that
creates the lead never calls ServiceTitan. What the try learnt comes back with its result (`after_results`): the
answer is cached, and a lead that was a customer is marked (`mark_existing`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from referloop.campaigns import outcomes
from referloop.campaigns.models import Lead, LeadEvent
from referloop.providers.servicetitan.first_time import KNOWN_CUSTOMER, Found, Plan, phone_digits

logger = logging.getLogger(__name__)

# How long a phone lookup's answer is trusted: long enough that a burst of leads with one phone (a family, a
# resubmitted form) costs one call, short enough that a customer created meanwhile is seen soon.
CACHE_SECONDS = 600
_CACHE_PREFIX = "referloop:st-known-customer"
_NOBODY = 0  # the cached "no customer has this phone" (ServiceTitan ids start at 1)

Key = tuple[str, str]  # ("email", "ann@example.com") or ("phone", "2175550142")


@dataclass(frozen=True)
class IndexAnswer:
    """What the local copy says about a claim's leads."""

    # By integration id: the customer id of each key its copy knows (unknown keys left out).
    customers: Mapping[int, Mapping[Key, int]]
    # The integrations whose copy is complete and fresh: a key it does not know is nobody's, so the lead is a
    # first-time client without asking ServiceTitan. Missing, still copying or stale copies are not in it.
    covering: frozenset[int] = frozenset()


NOTHING_KNOWN = IndexAnswer({})


class CustomerIndex(Protocol):
    """A local copy of which ServiceTitan customer has which email and phone, per integration."""

    def look_up(self, keys: Mapping[int, Collection[Key]], now: datetime) -> IndexAnswer:
        """For each integration of the claim, every key of its leads. Emails come casefolded, phones as digits
        without a US +1 (`phone_digits`). Called once per claim: it should cost a fixed number of queries however
        many integrations and keys."""
        ...

    def customer_ids(self, integration_id: int, keys: Collection[Key]) -> Mapping[Key, int]:
        """The customer id of each key this integration's copy knows (unknown keys left out), complete or not:
        `look_up` for one integration (matching a referrer who joins, return_fields/)."""
        ...


class NoIndex:
    """Knows nobody: no local copy of the customers exists yet, so every lead with a phone is asked about."""

    def look_up(self, keys: Mapping[int, Collection[Key]], now: datetime) -> IndexAnswer:
        return NOTHING_KNOWN

    def customer_ids(self, integration_id: int, keys: Collection[Key]) -> Mapping[Key, int]:
        return {}


_index: CustomerIndex = NoIndex()


def register_index(index: CustomerIndex) -> None:
    """The customer sync plugs its local copy in here (from its AppConfig.ready)."""
    global _index
    _index = index


def current_index() -> CustomerIndex:
    return _index


def keys_of(email: str, phone: str) -> list[Key]:
    keys: list[Key] = []
    if email.strip():
        keys.append(("email", email.strip().casefold()))
    digits = phone_digits(phone)
    if digits:
        keys.append(("phone", digits))
    return keys


def cache_key(integration_id: int, digits: str) -> str:
    return f"{_CACHE_PREFIX}:{integration_id}:phone:{digits}"


@dataclass(frozen=True)
class ToCheck:
    """One claimed lead whose integration sends Is First Time Client From ServiceTitan."""

    delivery_id: int
    integration_id: int
    fallback: str
    email: str
    phone: str


def plans(leads: Sequence[ToCheck]) -> dict[int, Plan]:
    """By delivery id, what each try must do: nothing (known customer, known to be nobody) or one phone lookup.

    One index question and one cache read for the whole claim.
    """
    keys: dict[int, set[Key]] = {}
    for lead in leads:
        keys.setdefault(lead.integration_id, set()).update(keys_of(lead.email, lead.phone))
    indexed = _indexed(keys, timezone.now())
    covered = indexed.covering
    found: dict[int, Plan] = {}
    to_ask: dict[int, str] = {}  # delivery id → digits, for the leads the index does not know
    for lead in leads:
        known = indexed.customers.get(lead.integration_id, {})
        match = next(
            ((kind, known[(kind, value)]) for kind, value in keys_of(lead.email, lead.phone) if (kind, value) in known),
            None,
        )
        if match is not None:
            found[lead.delivery_id] = Plan(lead.fallback, customer_id=match[1], matched_by=match[0])
            continue
        digits = phone_digits(lead.phone)
        if digits and lead.integration_id not in covered:
            to_ask[lead.delivery_id] = digits
        else:  # a covering copy knows nobody by these keys, or no phone to ask by: a first-time client
            found[lead.delivery_id] = Plan(lead.fallback)
    of_lead = {lead.delivery_id: lead for lead in leads}
    cached = _cached([cache_key(of_lead[pk].integration_id, digits) for pk, digits in to_ask.items()])
    for pk, digits in to_ask.items():
        answer = cached.get(cache_key(of_lead[pk].integration_id, digits))
        if isinstance(answer, int):
            customer_id = answer or None
            found[pk] = Plan(of_lead[pk].fallback, customer_id=customer_id, matched_by="phone" if customer_id else "")
        else:
            found[pk] = Plan(of_lead[pk].fallback, ask_phone=digits)
    return found


def with_plans(
    records: Mapping[int, Mapping[str, object]], leads: Sequence[ToCheck]
) -> dict[int, Mapping[str, object]]:
    """The claimed rows' records, each lead to check carrying its plan for the connector (and the try's cost)."""
    planned = plans(leads)
    return {pk: {**record, KNOWN_CUSTOMER: planned[pk]} if pk in planned else record for pk, record in records.items()}


@dataclass(frozen=True)
class Learnt:
    """What one try found out about its lead (from the attempt's request summary)."""

    integration_id: int
    lead_id: int
    found: Found


def remember(learnt: Iterable[Learnt], at: datetime) -> None:
    """In the results' transaction: cache what the phone lookups answered; mark the leads that were customers."""
    learnt = list(learnt)
    answers = {
        cache_key(item.integration_id, item.found.phone): item.found.customer_id or _NOBODY
        for item in learnt
        if item.found.asked and not item.found.failed and item.found.phone
    }
    if answers:
        # After the commit: a rolled-back write must not leave an answer behind (it would be re-learnt anyway).
        transaction.on_commit(lambda: _cache_answers(answers))
    for item in learnt:
        if item.found.customer_id is not None:
            mark_existing(item.lead_id, item.found.customer_id, item.found.matched_by, at)


def _indexed(keys: Mapping[int, Collection[Key]], now: datetime) -> IndexAnswer:
    """The index's answer; nothing known when it fails (its leads are then asked about by phone, never held up)."""
    index = current_index()
    if isinstance(index, NoIndex) or not keys:
        return NOTHING_KNOWN
    try:
        with transaction.atomic():  # a failed query must not break the claim's transaction
            return index.look_up(keys, now)
    except Exception:
        logger.exception("the known-customer index failed for integrations %s; asking ServiceTitan", sorted(keys))
        return NOTHING_KNOWN


def _cached(keys: list[str]) -> dict[str, object]:
    """The cache's answers; none when it is unreachable (a Redis outage costs calls, never a claim)."""
    if not keys:
        return {}
    try:
        with transaction.atomic():  # the database cache's error must not break the claim's transaction
            return cache.get_many(keys)
    except Exception:
        logger.warning("the cache could not be read; looking the leads up in ServiceTitan", exc_info=True)
        return {}


def _cache_answers(answers: dict[str, int]) -> None:
    try:
        cache.set_many(answers, CACHE_SECONDS)
    except Exception:  # the next lead with these phones is asked about again: a call, not a failure
        logger.warning("the cache could not be written; %d lookup answers not kept", len(answers), exc_info=True)


def existing_customer_reason(customer_id: int) -> str:
    return f"Already a ServiceTitan customer (#{customer_id})"


def mark_existing(lead_id: int, customer_id: int, matched_by: str, at: datetime) -> bool:
    """The lead was already customer `customer_id`: shown on its page, and, per its campaign's setting, Not
    qualified (a rule never qualifies it; a person still may, by hand). Once per lead; True if this call did it."""
    marked = Lead.objects.filter(pk=lead_id, servicetitan_customer_id__isnull=True).update(
        servicetitan_customer_id=customer_id
    )
    if not marked:
        return False
    by = f" (matched by {matched_by})" if matched_by else ""
    LeadEvent.objects.create(
        lead_id=lead_id,
        at=at,
        kind="existing_customer",
        title="Existing customer",
        detail=f"ServiceTitan already has this friend as customer #{customer_id}{by}.",
    )
    never_qualify = Lead.objects.filter(pk=lead_id, campaign__existing_customers_never_qualify=True).exists()
    if never_qualify:
        outcomes.not_qualified_by_fact(lead_id, existing_customer_reason(customer_id), at)
    return True
