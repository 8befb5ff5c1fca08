"""What the Referrers tab shows of a sync: counts of the current run by outcome, and the sentence that says what a
finished sync did. Counted from the staged customers' outcomes, so a customer decided twice counts once."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count

from referloop.diagnostics.redact import without_secrets
from referloop.integrations.servicetitan.customer_sync.models import (
    SKIP_OUTCOMES,
    CustomerSync,
    Outcome,
    StagedCustomer,
    SyncState,
)

SKIP_WORDS = {
    Outcome.NO_EMAIL: "without an email",
    Outcome.BAD_EMAIL: "with an email that is not valid",
    Outcome.NO_NAME: "without a name",
    Outcome.INACTIVE: "inactive",
    Outcome.NOT_SELECTED: "not among the chosen customers",
    Outcome.EMAIL_TAKEN: "whose new email belongs to another referrer",
}


@dataclass(frozen=True)
class Skipped:
    outcome: str
    words: str
    count: int


@dataclass(frozen=True)
class Progress:
    sync: CustomerSync
    done: int
    created: int
    linked: int
    kept: int
    updated: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    error: str = ""  # the sync's last error as the tab shows it, secrets removed

    @property
    def running(self) -> bool:
        return self.sync.state == SyncState.RUNNING

    @property
    def skipped_total(self) -> int:
        return sum(s.count for s in self.skipped)

    @property
    def to_go(self) -> int | None:
        """Customers left in the first pass, counted down from the run's count; None when not known."""
        if not self.running or self.sync.passes > 0:
            return 0
        if self.sync.customers_total is None:
            return None
        return max(self.sync.customers_total - self.done, 0)

    @property
    def percent(self) -> int | None:
        """For the progress bar while the first pass runs (None: no count to measure against)."""
        if self.sync.customers_total is None or not self.running or self.sync.passes > 0:
            return None
        return min(100, round(100 * self.done / self.sync.customers_total)) if self.sync.customers_total else 100

    @property
    def caught_up(self) -> bool:
        """An ongoing sync past its first full pass: waiting for changes."""
        return self.running and self.sync.passes > 0

    @property
    def summary(self) -> str:
        """E.g. "Created 1,204 referrers, linked 37 existing, skipped 85 without an email, 3 inactive."""
        parts = [f"Created {self.created:,} referrer{'' if self.created == 1 else 's'}"]
        if self.linked:
            parts.append(f"linked {self.linked:,} existing")
        if self.updated:
            parts.append(f"updated {self.updated:,}")
        if self.kept:
            parts.append(f"{self.kept:,} already synced")
        skips = [f"{s.count:,} {s.words}" for s in self.skipped]
        if skips:
            parts.append("skipped " + ", ".join(skips))
        return ", ".join(parts) + "."


def progress_of(sync: CustomerSync) -> Progress:
    counts = dict(
        StagedCustomer.objects.filter(sync=sync, run=sync.run)
        .exclude(outcome="")
        .values_list("outcome")
        .annotate(n=Count("id"))
        .values_list("outcome", "n")
    )
    skipped = [Skipped(o, SKIP_WORDS[o], counts[o]) for o in SKIP_OUTCOMES if counts.get(o)]
    return Progress(
        sync=sync,
        done=sum(counts.values()),
        created=counts.get(Outcome.CREATED, 0),
        linked=counts.get(Outcome.LINKED, 0),
        kept=counts.get(Outcome.KEPT, 0),
        updated=counts.get(Outcome.UPDATED, 0),
        skipped=skipped,
        # Stored errors are cleaned before they are cut (store.py); cleaning again covers rows older than that.
        error=without_secrets(sync.integration, sync.last_error) if sync.last_error else "",
    )
