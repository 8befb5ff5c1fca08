"""How the known-customer contacts copy is doing, in an owner's words: copying, up to date, behind or failing.

The Referrers tab shows it and Diagnose's Known customers check says the same with the fix. A failure of the
contacts-only copy is recorded by `store.failed` (`contacts_error*`); it is over once a contacts page is written
after it (`contacts_polled_at` newer than `contacts_error_at`), so nothing on the write path has to clear it. While
a referrer sync runs it is the copy's reader, so its own error counts too when newer than the last page written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from referloop.diagnostics.redact import without_secrets
from referloop.integrations.models import Integration
from referloop.integrations.servicetitan.customer_sync.index import CopyState, contacts_copied
from referloop.integrations.servicetitan.customer_sync.models import CustomerSync, SyncState

PURPOSE = "used to recognise existing customers"
API_ACCESS = "Settings → Integrations → API Application Access"
# The client's sentences for a refused client id and secret, App Key or tenant (providers/servicetitan/errors.py).
CONNECTION_WORDS = ("client ID and secret", "access token", "found nothing for tenant")


class Health(StrEnum):
    COPYING = "copying"  # the contacts export was never read to its end yet
    FRESH = "fresh"  # complete and read recently: it answers leads without a call
    STALE = "stale"  # complete, but not read for longer than two poll intervals
    FAILING = "failing"  # the latest read failed (and no page was written since)


LABELS = {
    Health.COPYING: "Copying",
    Health.FRESH: "Complete and up to date",
    Health.STALE: "Behind",
    Health.FAILING: "Failing",
}


@dataclass(frozen=True)
class Failure:
    error: str  # the sentence the client made of ServiceTitan's answer, secrets removed
    at: datetime
    permanent: bool  # a refusal a person must fix; else it may pass on its own

    @property
    def fix(self) -> str:
        return fix_for(self.error, self.permanent)

    @property
    def about_the_connection(self) -> bool:
        """Fixed on the Connection tab (credentials, tenant), not in ServiceTitan's app settings."""
        return any(words in self.error for words in CONNECTION_WORDS)


@dataclass(frozen=True)
class CopyHealth:
    health: Health
    contacts: int  # active contacts with an email or phone key: what a lead can be matched against
    copy: CopyState
    covers: bool  # complete and fresh: leads are answered from it with no call (a failure just now included)
    failure: Failure | None = None

    @property
    def label(self) -> str:
        return LABELS[self.health]

    @property
    def kept(self) -> bool:
        """A mapping asks ServiceTitan about known customers, so the worker keeps the copy going."""
        return self.copy.kept


def copy_health(integration: Integration, now: datetime) -> CopyHealth | None:
    """The copy's health, or None when the integration has no copy at all."""
    sync = CustomerSync.objects.filter(integration=integration).first()
    if sync is None:
        return None
    copy = CopyState(True, sync.contacts_complete_at, sync.contacts_polled_at, sync.keep_contacts)
    failure = _failure(sync, integration)
    if failure is not None:
        health = Health.FAILING
    elif not copy.complete():
        health = Health.COPYING
    elif copy.fresh(now):
        health = Health.FRESH
    else:
        health = Health.STALE
    return CopyHealth(health, contacts_copied(integration.pk), copy, copy.covers(now), failure)


def _failure(sync: CustomerSync, integration: Integration) -> Failure | None:
    """The latest failed read, if not over; never a secret on a screen or in `doctor`'s output."""
    polled = sync.contacts_polled_at
    if sync.contacts_error and sync.contacts_error_at and (polled is None or sync.contacts_error_at >= polled):
        return Failure(
            without_secrets(integration, sync.contacts_error), sync.contacts_error_at, sync.contacts_error_permanent
        )
    running = sync.state == SyncState.RUNNING
    if running and sync.last_error and sync.last_error_at and (polled is None or sync.last_error_at >= polled):
        return Failure(without_secrets(integration, sync.last_error), sync.last_error_at, permanent=False)
    return None


def fix_for(error: str, permanent: bool) -> str:
    """What to do about a failed read. The sentences are the client's own (providers/servicetitan/errors.py)."""
    retry = "The copy tries again every minute and goes on from where it stopped, so nothing is read twice."
    if "lacks permission" in error:
        return (
            "The ServiceTitan app lacks the Customers scope (reading customers and their contacts). Ask the tenant "
            f"admin to grant it under {API_ACCESS} (if the app was updated, click “Upgrade to New Version” there). "
            + retry
        )
    if any(words in error for words in CONNECTION_WORDS):
        return f"On the Connection tab, check the connection (Run checks tests it). {retry}"
    if permanent:
        return f"Fix the cause ServiceTitan gave; Run checks tests the connection. {retry}"
    return (
        "Nothing to do if it passes: the copy tries again every minute and goes on from where it stopped. If the "
        "same error stays, Run checks tests the connection to ServiceTitan."
    )
