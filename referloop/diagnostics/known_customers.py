"""Check 13, Known customers: how complete and fresh the copy of the customers' contacts is, which answers Is First
Time Client From ServiceTitan without a call, and what ServiceTitan answered when reading it failed.

Only run when the mapping asks ServiceTitan (checks.py decides). Database only: the page view, the banner and
`doctor --offline` can run it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from referloop.diagnostics import fixes
from referloop.diagnostics.result import CheckResult, Status
from referloop.diagnostics.text import ago, duration, plural
from referloop.integrations.models import Integration
from referloop.integrations.servicetitan.customer_sync.copy_health import CopyHealth, Failure, Health, copy_health
from referloop.integrations.servicetitan.customer_sync.index import fresh_within

KEY = "known_customers"
TITLE = "Known customers"
MEANWHILE = "lookups ask ServiceTitan by phone meanwhile (one call per lead with a phone)"


def check_known_customers(integration: Integration, now: datetime) -> CheckResult:
    health = copy_health(integration, now)
    limit = fresh_within()
    data = _data(health, limit.total_seconds())
    if health is None or (health.health == Health.COPYING and health.failure is None):
        so_far = f" ({plural(health.contacts, 'contact')} so far)" if health and health.contacts else ""
        return CheckResult(
            KEY, TITLE, Status.OK, f"Still copying the customers' contacts{so_far}: {MEANWHILE}.", data=data
        )
    copied = plural(health.contacts, "contact")
    polled = health.copy.polled_at
    last = f"last read {ago(polled, now)}" if polled else "never read"
    if health.failure is not None:
        return _failing(integration, health, health.failure, now, data)
    if health.health == Health.FRESH and polled is not None:
        return CheckResult(
            KEY,
            TITLE,
            Status.OK,
            f"{copied} copied, {last}: a lead's email and phone are matched here, without a call to ServiceTitan.",
            data=data,
        )
    return CheckResult(
        KEY,
        TITLE,
        Status.WARNING,
        f"{copied} copied, but {last}, longer than {duration(limit)}: {MEANWHILE}.",
        fix=(
            "Is a worker running? It reads the changes every few minutes (start `referloop worker` or "
            "`referloop serve`). If it is, Run checks tests the connection to ServiceTitan."
        ),
        data=data,
    )


def _failing(
    integration: Integration, health: CopyHealth, failure: Failure, now: datetime, data: dict[str, Any]
) -> CheckResult:
    """What ServiceTitan answered, what the copy still does meanwhile, and the fix. A refusal a person must fix is a
    problem once the copy no longer answers; a failure that may pass, or one the fresh copy still covers, a warning."""
    error = failure.error if failure.error.endswith((".", "!", "?")) else failure.error + "."
    copied = plural(health.contacts, "contact")
    if health.covers:
        meanwhile = f"The copy ({copied}) still answers leads until it is {duration(fresh_within())} old."
    elif not health.copy.complete():
        so_far = f" ({copied} so far)" if health.contacts else ""
        meanwhile = f"The copy is not complete{so_far}: {MEANWHILE}."
    else:
        last = f"last read {ago(health.copy.polled_at, now)}" if health.copy.polled_at else "never read"
        meanwhile = f"The copy ({copied}) is behind, {last}: {MEANWHILE}."
    result = CheckResult(
        KEY,
        TITLE,
        Status.PROBLEM if failure.permanent and not health.covers else Status.WARNING,
        f"The last read of the customers' contacts failed {ago(failure.at, now)}: {error} {meanwhile}",
        fix=failure.fix,
        data=data,
    )
    return result.link_to(fixes.tab_link(integration, fixes.CONNECTION)) if failure.about_the_connection else result


def _data(health: CopyHealth | None, fresh_seconds: float) -> dict[str, Any]:
    copy = health.copy if health else None
    failure = health.failure if health else None
    return {
        "contacts": health.contacts if health else 0,
        "state": str(health.health) if health else str(Health.COPYING),
        "complete_at": copy.complete_at.isoformat() if copy and copy.complete_at else None,
        "last_read_at": copy.polled_at.isoformat() if copy and copy.polled_at else None,
        "covers": bool(health and health.covers),
        "fresh_within_seconds": fresh_seconds,
        "error": failure.error if failure else None,
        "error_at": failure.at.isoformat() if failure else None,
        "error_permanent": failure.permanent if failure else None,
    }
