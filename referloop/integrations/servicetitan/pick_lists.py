"""The tenant's job types, business units and campaigns, as the Leads tab's Manual Selects offer them, and its tag
types, as the Referrers tab's "Customers with a tag" offers them (a group of lists of its own: `TAGS`).

Read in the web request with the sync client: the person is looking at the page and wants the names now, a
tenant has a few dozen of each, and Django's cache (Redis in production) answers every view for 15 minutes
after one read. The read is bounded (short timeouts and a time budget across the three lists), and a failure
is remembered for a minute, so a slow or down ServiceTitan costs one short wait, never a hung page or a 500:
the select then falls back to typing the id, with a sentence saying why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from django.core.cache import cache
from django.utils import timezone

from referloop.integrations.models import ConnectionState, Integration
from referloop.integrations.servicetitan.credentials import EnvironmentNotAllowed, credentials_for
from referloop.integrations.servicetitan.mapping_form import Row
from referloop.providers.mapping import FieldMapping, placeholders
from referloop.providers.servicetitan import ServiceTitanClient, ServiceTitanError
from referloop.providers.servicetitan.customer_models import PickListItem
from referloop.providers.servicetitan.fields import FIELDS_BY_KEY, TARGET_FIELDS

logger = logging.getLogger(__name__)

KINDS = ("job_type", "business_unit", "campaign")
KIND_LABELS = {"job_type": "Job Type", "business_unit": "Business Unit", "campaign": "Campaign", "tag_type": "Tag"}
CACHE_SECONDS = 15 * 60
# A failed read is not retried on every view for this long (the refresh button retries at once).
FAILURE_SECONDS = 60
# A person is waiting on the page: far shorter than the worker's timeouts.
FETCH_TIMEOUT = httpx.Timeout(connect=2.0, read=4.0, write=2.0, pool=2.0)
# No new list is asked for once this much time went by (each call is bounded by FETCH_TIMEOUT on its own).
FETCH_BUDGET_SECONDS = 6.0

# Job Type, Business Unit, Campaign: the order a sentence names them in.
PICK_LIST_FIELDS = tuple(
    sorted((target for target in TARGET_FIELDS if target.pick_list), key=lambda target: KINDS.index(target.pick_list))
)

Lister = Callable[[ServiceTitanClient], list[PickListItem]]
LISTERS: dict[str, Lister] = {
    "job_type": ServiceTitanClient.list_job_types,
    "business_unit": ServiceTitanClient.list_business_units,
    "campaign": ServiceTitanClient.list_campaigns,
    "tag_type": ServiceTitanClient.list_tag_types,
}


@dataclass(frozen=True)
class ListGroup:
    """Lists read, cached and refreshed together: what one screen needs."""

    cache_name: str
    kinds: tuple[str, ...]
    what: str  # what a sentence calls them


BOOKING = ListGroup("pick-lists", KINDS, "job types, business units and campaigns")
TAGS = ListGroup("tag-types", ("tag_type",), "tag types")


@dataclass(frozen=True)
class PickLists:
    """The active items by kind as (id, name), or none with `problem` saying why (shown beside the id field)."""

    items: dict[str, tuple[tuple[int, str], ...]] = field(default_factory=dict)
    fetched_at: datetime | None = None
    problem: str = ""

    @property
    def loaded(self) -> bool:
        return bool(self.items) and not self.problem

    def choices(self, kind: str) -> list[tuple[str, str]]:
        return [(str(item_id), f"{name} ({item_id})") for item_id, name in self.items.get(kind, ())]

    def name_of(self, kind: str, item_id: int) -> str | None:
        return next((name for known, name in self.items.get(kind, ()) if known == item_id), None)


def cache_key(integration: Integration, group: ListGroup = BOOKING) -> str:
    # The tenant and environment are in the key: reconnecting to another tenant never shows the old one's lists.
    return f"servicetitan:{group.cache_name}:{integration.pk}:{integration.environment}:{integration.tenant_id}"


def _failure_key(integration: Integration, group: ListGroup) -> str:
    return cache_key(integration, group) + ":failed"


def cached_pick_lists(integration: Integration, group: ListGroup = BOOKING) -> PickLists | None:
    """What the cache holds (a good read or a recent failure), without asking ServiceTitan; None if nothing."""
    stored = cache.get(cache_key(integration, group))
    if stored is not None:
        return _from_cache(stored)
    failure = cache.get(_failure_key(integration, group))
    return PickLists(problem=failure) if failure else None


def pick_lists(integration: Integration, *, refresh: bool = False, group: ListGroup = BOOKING) -> PickLists:
    """The lists from the cache, read from ServiceTitan when the cache has none (or `refresh`)."""
    if not refresh:
        cached = cached_pick_lists(integration, group)
        if cached is not None:
            return cached
    unavailable = _not_connected(integration)
    if unavailable:
        return PickLists(problem=unavailable)
    fresh = fetch(integration, group)
    if fresh.problem:
        cache.set(_failure_key(integration, group), fresh.problem, FAILURE_SECONDS)
        return fresh
    cache.delete(_failure_key(integration, group))
    cache.set(cache_key(integration, group), _to_cache(fresh), CACHE_SECONDS)
    return fresh


def fetch(integration: Integration, group: ListGroup = BOOKING) -> PickLists:
    """One bounded read of the group's lists from ServiceTitan; never raises."""
    started = time.monotonic()
    items: dict[str, tuple[tuple[int, str], ...]] = {}
    try:
        credentials = credentials_for(integration)
    except EnvironmentNotAllowed as exc:
        return PickLists(problem=f"ServiceTitan's lists can't be read: {exc}")
    except ValueError:
        return PickLists(problem="ServiceTitan's lists can't be read: the stored Client Secret can't be decrypted.")
    try:
        with ServiceTitanClient(credentials, timeout=FETCH_TIMEOUT) as client:
            for kind in group.kinds:
                if time.monotonic() - started > FETCH_BUDGET_SECONDS:
                    return PickLists(problem=f"ServiceTitan was too slow to list its {group.what}.")
                items[kind] = tuple((item.id, item.name or f"#{item.id}") for item in LISTERS[kind](client))
    except ServiceTitanError as exc:
        return PickLists(problem=f"ServiceTitan could not list its {group.what}: {exc.message}")
    except Exception as exc:  # the Leads tab must render whatever went wrong
        logger.exception("reading the pick lists failed for integration %s", integration.pk)
        return PickLists(problem=f"ServiceTitan's lists could not be read ({type(exc).__name__}).")
    return PickLists(items=items, fetched_at=timezone.now())


def _not_connected(integration: Integration) -> str:
    if integration.state != ConnectionState.CONNECTED or integration.tenant_id is None:
        return "ServiceTitan is not connected, so its lists can't be shown."
    return ""


def stored_id(entry: FieldMapping | None) -> int | None:
    """The id a row sends to ServiceTitan whatever the lead: a Manual Select, or a Fixed Value that is a number."""
    if entry is None or entry.data_type not in ("manual", "fixed") or placeholders(entry.source):
        return None
    text = entry.source.strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def stored_id_problems(mapping: Mapping[str, FieldMapping], lists: PickLists) -> dict[str, str]:
    """{target key: sentence} for each stored id the tenant's lists don't hold as active (none if not loaded)."""
    if not lists.loaded:
        return {}
    problems = {}
    for target in PICK_LIST_FIELDS:
        item_id = stored_id(mapping.get(target.key))
        if item_id is not None and lists.name_of(target.pick_list, item_id) is None:
            label = KIND_LABELS[target.pick_list]
            problems[target.key] = (
                f"{label} {item_id} is not an active {label.lower()} in ServiceTitan (inactive or removed): "
                "choose another."
            )
    return problems


def fallback_note(lists: PickLists, key: str) -> str:
    """Why a row offers an id field instead of the list."""
    label = KIND_LABELS[FIELDS_BY_KEY[key].pick_list]
    return f"{lists.problem} Type the {label} id (a number) meanwhile."


def needs_lists(rows: Iterable[Row]) -> bool:
    """Only a table with a Job Type, Business Unit or Campaign row asks ServiceTitan."""
    return any(row.field.pick_list for row in rows)


def show_lists(rows: Iterable[Row], lists: PickLists) -> list[str]:
    """Give each pick-list row its choices (or the note why there are none); the stored-id problems, in order."""
    rows = list(rows)
    problems = stored_id_problems({row.field.key: row.as_mapping() for row in rows}, lists)
    for row in rows:
        if not row.field.pick_list:
            continue
        if lists.loaded:
            row.choices = lists.choices(row.field.pick_list)
            chosen = row.manual.strip()
            if chosen and chosen not in {value for value, _ in row.choices}:
                row.choices.append((chosen, f"{chosen} (not active in ServiceTitan)"))
        elif lists.problem:
            row.pick_note = fallback_note(lists, row.field.key)
        row.pick_problem = problems.get(row.field.key, "")
    return list(problems.values())


def _to_cache(lists: PickLists) -> dict[str, object]:
    return {
        "fetched_at": lists.fetched_at.isoformat() if lists.fetched_at else None,
        "items": {kind: [list(item) for item in items] for kind, items in lists.items.items()},
    }


def _from_cache(stored: dict[str, object]) -> PickLists:
    raw_items = stored.get("items")
    raw_at = stored.get("fetched_at")
    items = (
        {kind: tuple((int(i), str(n)) for i, n in values) for kind, values in raw_items.items()}
        if isinstance(raw_items, dict)
        else {}
    )
    return PickLists(items=items, fetched_at=datetime.fromisoformat(raw_at) if isinstance(raw_at, str) else None)


def tag_problem(tag_id: int | None, lists: PickLists) -> str:
    """The sentence for a stored tag type id the tenant no longer lists as active ("" when fine or not known)."""
    if tag_id is None or not lists.loaded or lists.name_of("tag_type", tag_id) is not None:
        return ""
    return f"Tag {tag_id} is not an active tag type in ServiceTitan (inactive or removed): choose another."
