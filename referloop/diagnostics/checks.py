"""The Diagnose checks, in the order a person would work through them, each with one sentence and the fix.

1. lead action  2. required fields mapped  3. the mapping on recent real leads  4. credentials  5. App Key
6. Booking Provider Value  7. Job Type, Business Unit and Campaign ids still active  8. deliveries in the last
24 hours  9. held leads  10. the worker  11. the queue  12. the follower (following each booking in ServiceTitan
after it was created)  13. known customers, only when Is First Time Client is From ServiceTitan (how complete and
fresh the copy of the customers' contacts is).

Checks 4 to 7 talk to ServiceTitan (see `live.py`, `pick_lists.py`); the rest only read the database, so
`cheap_checks` can run on every page view (the banner). No check raises: an unexpected error becomes a problem
result that says so.

A check's cost must not grow with the account (issue 16 §2): each count stops at CAP + 1 rows and reads "1,000+",
and groups (error causes, hold reasons) are made of the newest CAP rows only, the words saying so when there are
more. The checks stay live (nothing is kept between runs): people press Run checks again right after a fix.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from referloop.campaigns.models import Campaign, CustomField, Lead
from referloop.campaigns.outcomes import BY_HAND
from referloop.diagnostics import fixes, live
from referloop.diagnostics import known_customers as known_customers_check
from referloop.diagnostics import pick_lists as pick_list_check
from referloop.diagnostics.result import CheckResult, Status, has_problem
from referloop.diagnostics.text import ago, and_join, duration, percent, plural
from referloop.integrations import workers
from referloop.integrations.models import (
    Delivery,
    DeliveryState,
    Follow,
    FollowSync,
    Integration,
    LeadAction,
    WorkerHeartbeat,
)
from referloop.integrations.records import custom_fields_of, lead_record
from referloop.integrations.servicetitan.customer_sync.keeping import wants_copy
from referloop.integrations.servicetitan.follower import store as follower
from referloop.integrations.servicetitan.readiness import LEADS_TAB, Readiness, State, readiness
from referloop.providers.mapping import DATA_TYPE_LABELS, CustomSource, FieldMapping, SourceField, source_catalog
from referloop.providers.servicetitan import (
    TARGET_FIELDS,
    PayloadError,
    build_booking_body,
    default_mapping,
)
from referloop.runtime.capped import capped_count, newest

logger = logging.getLogger(__name__)

RECENT_LEADS = 50
DELIVERY_WINDOW = timedelta(hours=24)
HEARTBEAT_STALE_AFTER = workers.ALIVE_WITHIN
QUEUE_WARNING_AFTER = timedelta(minutes=2)
QUEUE_PROBLEM_AFTER = timedelta(minutes=15)
MAX_GROUPS = 10
# Where counts stop and how many of the newest rows are grouped. Smaller than the lists' 10,000: the banner runs
# these checks on every campaign page view, and 1,000 held leads call for the same fix as 6,000 (the Activity tab
# counts each state up to 10,000). Read at call time, so a test can set it small.
CAP = 1_000
# The follower is behind when its last successful cycle is older than this many poll intervals.
FOLLOW_STALE_INTERVALS = 2
QUALIFIED_WINDOW = timedelta(days=30)
FOLLOWER = "Following bookings in ServiceTitan"
KNOWN_CUSTOMERS = known_customers_check.TITLE

LABELS = {field.key: field.label for field in TARGET_FIELDS}
CREATE_BOOKING = LeadAction.CREATE_BOOKING.label
NOTHING = LeadAction.NOTHING.label


@dataclass
class Context:
    """What one run of the checks shares, read once."""

    integration: Integration
    now: datetime
    custom_fields: list[CustomField] = field(default_factory=list)

    @property
    def campaign(self) -> Campaign:
        return self.integration.campaign

    @cached_property
    def readiness(self) -> Readiness:
        """The one readiness rule's answer: the checks explain it, they don't decide it again."""
        return readiness(self.integration)


Check = Callable[[Context], CheckResult]


def capped_plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`plural` for a count made by `capped_count(rows, CAP)`: `1,000+ leads are` past the cap."""
    if count > CAP:
        return f"{CAP:,}+ {plural_form or singular + 's'}"
    return plural(count, singular, plural_form)


def figure(count: int) -> int:
    """A capped count as a result's data: at most CAP (`caps` names the ones past it)."""
    return min(count, CAP)


def caps(**counts: int) -> dict[str, list[str]]:
    """`{"capped": [names]}` for the counts past CAP, else nothing: data without one is unchanged."""
    past = [name for name, count in counts.items() if count > CAP]
    return {"capped": past} if past else {}


def among_newest(total: int, word: str = "of") -> str:
    """` of the newest 1,000` for a group counted among the newest CAP rows only (`total` past CAP), else ""."""
    return f" {word} the newest {CAP:,}" if total > CAP else ""


# 1 ──────────────────────────────────────────────────────────────────────────────────────────────────────────
def check_lead_action(ctx: Context) -> CheckResult:
    integration = ctx.integration
    if ctx.readiness.state != State.SKIPPED:
        return CheckResult(
            "lead_action",
            "Lead action",
            Status.OK,
            f"New leads become bookings: “When lead joins campaign” is set to “{CREATE_BOOKING}”.",
        )
    skipped = capped_count(
        Delivery.objects.filter(
            integration=integration, state=DeliveryState.SKIPPED, created_at__gte=ctx.now - DELIVERY_WINDOW
        ),
        CAP,
    )
    tail = f" {capped_plural(skipped, 'lead was', 'leads were')} skipped in the last 24 hours." if skipped else ""
    return CheckResult(
        "lead_action",
        "Lead action",
        Status.PROBLEM,
        f"The lead action is “{NOTHING}”, so no bookings are created in ServiceTitan.{tail}",
        fix=(
            f"On the Leads tab, set “When lead joins campaign” to “{CREATE_BOOKING}” and click Save Changes. "
            "A lead skipped so far can be resent from its page on the Activity tab."
        ),
        data={
            "lead_action": integration.lead_action,
            "skipped_last_24h": figure(skipped),
            **caps(skipped_last_24h=skipped),
        },
    ).link_to(fixes.tab_link(integration, fixes.LEADS))


# 2 ──────────────────────────────────────────────────────────────────────────────────────────────────────────
def check_required_fields(ctx: Context) -> CheckResult:
    integration = ctx.integration
    missing = ctx.readiness.unmapped
    if missing:
        labels = [f.label for f in missing]
        hints = "; ".join(s for s in (suggestion(f.key, ctx.custom_fields) for f in missing) if s)
        return CheckResult(
            "required_fields",
            "Required fields",
            Status.PROBLEM,
            f"Setup Required: {and_join(labels)} {'is' if len(labels) == 1 else 'are'} not mapped, so new leads "
            "are held instead of sent to ServiceTitan.",
            fix=(
                f"On the Leads tab, under Map your fields, give {and_join(labels)} a value"
                f"{f' ({hints})' if hints else ''}, then click Save Changes. Held leads go out on their own."
            ),
            data={"missing": [f.key for f in missing]},
        ).link_to(fixes.tab_link(integration, fixes.LEADS))
    broken = dict(ctx.readiness.invalid_rows)
    if broken:
        return CheckResult(
            "required_fields",
            "Required fields",
            Status.PROBLEM,
            f"Setup Required: {plural(len(broken), 'field mapping is', 'field mappings are')} not valid, so new "
            "leads are held instead of sent.",
            fix="On the Leads tab, fix the rows listed here (they are marked there too), then click Save Changes.",
            details=list(broken.values()),
            data={"invalid": sorted(broken)},
        ).link_to(fixes.tab_link(integration, fixes.LEADS))
    required = [f.label for f in TARGET_FIELDS if f.required]
    return CheckResult(
        "required_fields", "Required fields", Status.OK, f"Every required field is mapped ({', '.join(required)})."
    )


def suggestion(key: str, custom_fields: list[CustomField]) -> str:
    """What the default mapping would put in a field: `Email → Dynamic Value → Lead Email`."""
    entry = default_mapping().get(key)
    if entry is None:
        return ""
    return f"{LABELS.get(key, key)} → {DATA_TYPE_LABELS[entry.data_type]} → {describe_source(entry, custom_fields)}"


def describe_source(entry: FieldMapping, custom_fields: list[CustomField]) -> str:
    if entry.data_type != "dynamic":
        return f"“{entry.source}”"
    return source_label(entry.source, _catalog(custom_fields))


def source_label(key: str, catalog: tuple[SourceField, ...]) -> str:
    return next((f.label for f in catalog if f.key == key.strip()), key)


def _catalog(custom_fields: list[CustomField]) -> tuple[SourceField, ...]:
    return source_catalog(CustomSource(name=f.key, label=f.label) for f in custom_fields)


# 3 ──────────────────────────────────────────────────────────────────────────────────────────────────────────
@dataclass
class FieldFailure:
    key: str
    label: str
    affected: int = 0
    empty: int = 0
    invalid: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    sample_value: str = ""
    sample_reason: str = ""


def check_mapping_on_leads(ctx: Context) -> CheckResult:
    """Build the booking body for each recent lead: a source that is empty or unreadable for real leads shows here."""
    integration = ctx.integration
    recent = Lead.objects.filter(campaign=ctx.campaign).select_related("referrer", "campaign")
    leads = list(recent.order_by("-created_at", "-pk")[:RECENT_LEADS])
    if not leads:
        return CheckResult(
            "mapping_on_leads",
            "Mapping on real leads",
            Status.SKIPPED,
            "There are no leads yet, so the mapping has not met real data. Send test booking tries it with a "
            "sample lead.",
        )
    mapping = integration.mapping()
    custom = custom_fields_of(ctx.campaign)
    # Check 2 reports unmapped and invalid rows; here only what real data breaks.
    known = {f.key for f in ctx.readiness.unmapped} | {key for key, _ in ctx.readiness.invalid_rows}
    failures: dict[str, FieldFailure] = {}
    for lead in leads:
        try:
            build_booking_body(mapping, lead_record(lead), custom)
        except PayloadError as exc:
            for problem in exc.problems:
                if problem.key in known:
                    continue
                failure = failures.setdefault(problem.key, FieldFailure(problem.key, problem.label))
                failure.affected += 1
                failure.reasons[problem.reason] += 1
                if problem.value:
                    failure.invalid += 1
                    if not failure.sample_value:
                        failure.sample_value, failure.sample_reason = problem.value, problem.reason
                else:
                    failure.empty += 1
    total = len(leads)
    if not failures:
        return CheckResult(
            "mapping_on_leads",
            "Mapping on real leads",
            Status.OK,
            f"The mapping builds a valid booking for {'the only lead' if total == 1 else f'all {total} recent leads'}.",
            data={"leads_checked": total, "fields": []},
        )
    ordered = sorted(failures.values(), key=lambda f: (-f.affected, f.label))
    catalog = _catalog(ctx.custom_fields)
    details = [explain_failure(f, mapping.get(f.key), total, catalog, ctx.custom_fields) for f in ordered]
    parts = [
        f"{f.label} for {'the only lead' if total == 1 else f'{f.affected} of the {total} most recent leads'} "
        f"({percent(f.affected, total)})"
        if i == 0
        else f"{f.label} for {f.affected} ({percent(f.affected, total)})"
        for i, f in enumerate(ordered)
    ]
    return CheckResult(
        "mapping_on_leads",
        "Mapping on real leads",
        Status.PROBLEM,
        f"The mapping fails on real leads: {and_join(parts)}, so they would not become bookings.",
        fix=" ".join(fix_for_failure(f, mapping.get(f.key)) for f in ordered) + " Then click Save Changes.",
        details=details,
        data={
            "leads_checked": total,
            "fields": [
                {
                    "key": f.key,
                    "label": f.label,
                    "affected": f.affected,
                    "share": round(f.affected / total, 3),
                    "empty": f.empty,
                    "invalid": f.invalid,
                    "reasons": dict(f.reasons),
                }
                for f in ordered
            ],
        },
    ).link_to(fixes.tab_link(integration, fixes.LEADS))


def explain_failure(
    failure: FieldFailure,
    entry: FieldMapping | None,
    total: int,
    catalog: tuple[SourceField, ...],
    custom_fields: list[CustomField],
) -> str:
    of_total = f"of {total} recent {'lead' if total == 1 else 'leads'} ({percent(failure.affected, total)})"
    example = f"; for example “{failure.sample_value}” {failure.sample_reason}" if failure.invalid else ""
    if entry is not None and entry.data_type == "dynamic":
        source = source_label(entry.source, catalog)
        optional = _optional_note(entry.source, custom_fields)
        parts = []
        if failure.empty:
            parts.append(f"empty for {failure.empty}")
        if failure.invalid:
            parts.append(f"not usable for {failure.invalid}")
        return f"{failure.label} is mapped from {source}{optional}, which is {' and '.join(parts)} {of_total}{example}."
    if entry is not None and entry.data_type == "fixed" and failure.empty:
        return f"The Fixed Value of {failure.label} comes out empty for {failure.affected} {of_total}."
    reason = failure.reasons.most_common(1)[0][0]
    return f"{failure.label} {reason}: {failure.affected} {of_total}{example}."


def _optional_note(source: str, custom_fields: list[CustomField]) -> str:
    key = source.strip().removeprefix("custom.")
    if not source.strip().startswith("custom."):
        return ""
    custom = next((f for f in custom_fields if f.key == key), None)
    if custom is None:
        return ""
    kind = "an optional" if not custom.required else "a"
    return f" ({kind} {custom.get_field_type_display().lower()} field on the lead form)"


def fix_for_failure(failure: FieldFailure, entry: FieldMapping | None) -> str:
    target = next((f for f in TARGET_FIELDS if f.key == failure.key), None)
    label = failure.label
    if target is not None and target.type == "boolean":
        return (
            f"On the Leads tab, set {label} to {DATA_TYPE_LABELS['manual']} → Yes (or No), or map it from a checkbox "
            "field."
        )
    if target is not None and target.type == "enum":
        choices = " or ".join(target.allowed_values)
        return f"On the Leads tab, set {label} to {DATA_TYPE_LABELS['manual']} → {choices}."
    if failure.key == "contacts.Email":
        return (
            f"On the Leads tab, map {label} to {DATA_TYPE_LABELS['dynamic']} → Lead Email (every lead has one), "
            "not to an optional field."
        )
    if target is not None and target.contact_type:
        return f"On the Leads tab, map {label} to Lead Phone or remove the row (it is optional)."
    if failure.empty and target is not None and target.required:
        return (
            f"On the Leads tab, map {label} to a field every lead fills in (a Lead field, or a custom field the lead "
            f"form requires), or use a {DATA_TYPE_LABELS['fixed']}."
        )
    if failure.empty:
        return f"On the Leads tab, map {label} from a field every lead fills in, or remove the optional address rows."
    return f"On the Leads tab, map {label} from a field whose values fit it, or use a {DATA_TYPE_LABELS['fixed']}."


# 7 ──────────────────────────────────────────────────────────────────────────────────────────────────────────
def check_deliveries(ctx: Context) -> CheckResult:
    integration = ctx.integration
    since = ctx.now - DELIVERY_WINDOW
    deliveries = Delivery.objects.filter(integration=integration)
    last_success = deliveries.filter(state=DeliveryState.DELIVERED).aggregate(at=Max("delivered_at"))["at"]
    delivered_24h = capped_count(deliveries.filter(state=DeliveryState.DELIVERED, delivered_at__gte=since), CAP)
    success = (
        f"the last booking was created {ago(last_success, ctx.now)}"
        if last_success
        else "no booking has been created yet"
    )
    # By failed_at, off the failed rows' index: the last 24 hours' range, not every failure the account ever had.
    failed = _groups(deliveries.filter(state=DeliveryState.FAILED, failed_at__gte=since), "failed_at", "failed_at")
    retrying = _groups(
        deliveries.filter(state=DeliveryState.PENDING, attempt_count__gt=0).exclude(last_error=""), "first_attempt_at"
    )
    data = {
        "delivered_last_24h": figure(delivered_24h),
        "last_success_at": last_success.isoformat() if last_success else None,
        "failed_last_24h": [g.as_dict() for g in failed.shown],
        "retrying": [g.as_dict() for g in retrying.shown],
        **caps(delivered_last_24h=delivered_24h, failed_last_24h=failed.total, retrying=retrying.total),
    }
    details = [failed.line(g) for g in failed.shown] + [retrying.line(g, "retrying") for g in retrying.shown]
    if failed.total:
        return CheckResult(
            "deliveries",
            "Deliveries (24 hours)",
            Status.PROBLEM,
            f"{capped_plural(failed.total, 'delivery', 'deliveries')} failed in the last 24 hours "
            f"({plural(failed.causes, 'cause')}{among_newest(failed.total, 'among')}); {success}.",
            fix=(
                "Fix the cause named for each group below (the Activity tab shows every attempt with ServiceTitan's "
                "own words), then click Resend all failed on the Activity tab."
            ),
            details=details,
            data=data,
        ).link_to(fixes.tab_link(integration, fixes.ACTIVITY))
    if retrying.total:
        return CheckResult(
            "deliveries",
            "Deliveries (24 hours)",
            Status.WARNING,
            f"{capped_plural(retrying.total, 'delivery is', 'deliveries are')} being retried after a temporary "
            f"error; {success}.",
            fix="Nothing to do unless the same error keeps coming back: retries run on their own for up to 24 hours.",
            details=details,
            data=data,
        ).link_to(fixes.tab_link(integration, fixes.ACTIVITY))
    created = f"{capped_plural(delivered_24h, 'booking')} created in the last 24 hours" if delivered_24h else ""
    return CheckResult(
        "deliveries",
        "Deliveries (24 hours)",
        Status.OK,
        f"No delivery failed in the last 24 hours; {created + ', ' if created else ''}{success}.",
        data=data,
    )


@dataclass
class ErrorGroup:
    sentence: str
    count: int
    newest_email: str
    newest_at: datetime | None

    def line(self, what: str = "failed", among: str = "") -> str:
        newest = f" Newest: {self.newest_email}." if self.newest_email else ""
        return f"{self.count}{among} {what}: {self.sentence}{newest}"

    def as_dict(self) -> dict[str, object]:
        return {
            "sentence": self.sentence,
            "count": self.count,
            "newest_lead_email": self.newest_email,
            "newest_at": self.newest_at.isoformat() if self.newest_at else None,
        }


@dataclass
class ErrorGroups:
    """The causes of the newest CAP matching deliveries, most first: the first MAX_GROUPS of them are shown."""

    shown: list[ErrorGroup]
    causes: int  # all the causes among those rows
    total: int  # the matching deliveries, CAP + 1 when there are more than CAP

    def line(self, group: ErrorGroup, what: str = "failed") -> str:
        return group.line(what, among_newest(self.total))


def _groups(deliveries: QuerySet[Delivery], time_field: str, order: str = "created_at") -> ErrorGroups:
    """The newest CAP deliveries by `order` (an indexed column: created_at is the (integration, state, created_at)
    index's order, failed_at the failed rows' own; the LIMIT then stops the scan) grouped by their error here, in
    one statement, and each shown group's newest lead's email in one more, whatever the number of groups (was one
    per group; then a GROUP BY over every matching row)."""
    rows, more = newest(deliveries, CAP, order, "pk", "last_error", time_field, "lead_id")
    counts: Counter[str] = Counter()
    latest: dict[str, tuple[datetime | None, int, int | None]] = {}
    for pk, error, at, lead_id in rows:
        counts[error] += 1
        # The group's newest time, the highest id winning a tie (as when this was SQL); a row without a time loses.
        if error not in latest or _later((at, pk), latest[error][:2]):
            latest[error] = (at, pk, lead_id)
    ordered = sorted(counts, key=lambda error: (counts[error], _sortable(latest[error][0])), reverse=True)
    shown = ordered[:MAX_GROUPS]
    lead_ids = {lead_id for error in shown if (lead_id := latest[error][2]) is not None}
    emails = dict(Lead.objects.filter(pk__in=lead_ids).values_list("pk", "email")) if lead_ids else {}
    groups = [
        ErrorGroup(
            sentence=error or "No error text was recorded.",
            count=counts[error],
            newest_email=emails.get(latest[error][2] or 0, ""),
            newest_at=latest[error][0],
        )
        for error in shown
    ]
    return ErrorGroups(groups, causes=len(counts), total=CAP + 1 if more else len(rows))


def _sortable(at: datetime | None) -> datetime:
    return at if at is not None else datetime.min.replace(tzinfo=UTC)


def _later(row: tuple[datetime | None, int], than: tuple[datetime | None, int | None]) -> bool:
    return (_sortable(row[0]), row[1]) > (_sortable(than[0]), than[1] or 0)


# 8 ──────────────────────────────────────────────────────────────────────────────────────────────────────────
def check_held(ctx: Context) -> CheckResult:
    integration = ctx.integration
    held = Delivery.objects.filter(integration=integration, state=DeliveryState.HELD)
    # Grouped here from the newest CAP held rows, read off the (integration, state, created_at) index.
    rows, more = newest(held, CAP, "created_at", "reason")
    reasons = Counter(reason for (reason,) in rows)
    total = CAP + 1 if more else len(rows)
    if not total:
        return CheckResult("held", "Held leads", Status.OK, "No leads are held.", data={"held": 0, "reasons": []})
    # The oldest of all, not of the newest CAP: a MIN read off the same index.
    oldest = held.aggregate(oldest=Min("created_at"))["oldest"]
    among = among_newest(total)
    ordered = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    details = [f"{count}{among} held: {reason or 'No reason was recorded.'}" for reason, count in ordered]
    data = {
        "held": figure(total),
        "reasons": [{"reason": reason, "count": count} for reason, count in ordered],
        **caps(held=total),
    }
    current = ctx.readiness.hold_reason
    if ctx.readiness.state == State.SKIPPED:
        fix = (
            f"These leads wait for the setup to be fixed. Set the lead action to “{CREATE_BOOKING}” on the Leads tab "
            "as well, or held leads are not sent."
        )
        tab = fixes.LEADS
    elif current:
        fix = current
        tab = fixes.LEADS if ctx.readiness.fix_tab == LEADS_TAB else fixes.CONNECTION
    else:
        fix = "The setup is complete now: on the Activity tab, click Send held leads now."
        tab = fixes.ACTIVITY
    return CheckResult(
        "held",
        "Held leads",
        Status.PROBLEM,
        f"{capped_plural(total, 'lead is', 'leads are')} held and not sent to ServiceTitan; the oldest has waited "
        f"{duration(ctx.now - oldest)}.",
        fix=fix,
        details=details,
        data=data,
    ).link_to(fixes.tab_link(integration, tab))


# 9 ──────────────────────────────────────────────────────────────────────────────────────────────────────────
def check_worker(ctx: Context) -> CheckResult:
    alive = list(workers.alive(ctx.now).order_by("-seen_at"))
    if alive:
        newest = alive[0]
        in_flight = sum(worker.in_flight for worker in alive)
        return CheckResult(
            "worker",
            "Worker",
            Status.OK,
            f"The worker is running: {plural(len(alive), 'process', 'processes')}, last heartbeat "
            f"{duration(ctx.now - newest.seen_at)} ago, {plural(in_flight, 'request')} in flight.",
            data={"workers": [worker.as_dict() for worker in alive]},
        )
    last = WorkerHeartbeat.objects.order_by("-seen_at").first()
    if last is None:
        seen = "no worker has ever sent a heartbeat"
    elif last.stopped_at is not None:
        seen = f"the last one ({last.hostname}, pid {last.pid}) stopped {ago(last.stopped_at, ctx.now)}"
    else:
        seen = f"the last heartbeat ({last.hostname}, pid {last.pid}) was {ago(last.seen_at, ctx.now)}"
    integration = ctx.integration
    sends = ctx.readiness.state == State.READY
    waiting = capped_count(Delivery.objects.filter(integration=integration, state=DeliveryState.PENDING), CAP)
    status = Status.PROBLEM if sends or waiting else Status.WARNING
    queued = f" {capped_plural(waiting, 'delivery is', 'deliveries are')} waiting for it." if waiting else ""
    return CheckResult(
        "worker",
        "Worker",
        status,
        f"The worker is not running: no heartbeat in the last {duration(HEARTBEAT_STALE_AFTER)}; {seen}.{queued}",
        fix=(
            "Start the worker on the server: run `referloop worker` (or `referloop serve`, which starts one) and keep "
            "it running under your process manager. Waiting leads are sent as soon as it runs; none are lost."
        ),
        data={"last_heartbeat": last.as_dict() if last else None, "pending": figure(waiting), **caps(pending=waiting)},
    )


# 10 ─────────────────────────────────────────────────────────────────────────────────────────────────────────
def check_queue(ctx: Context) -> CheckResult:
    due = Delivery.objects.filter(
        integration=ctx.integration, state=DeliveryState.PENDING, next_attempt_at__lte=ctx.now
    ).filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=ctx.now))
    # Not a capped count: the oldest due row's time needs every due row read anyway (no index leads with the
    # integration and next_attempt_at), and the count comes with it in the same statement.
    summary = due.aggregate(count=Count("pk"), oldest=Min("next_attempt_at"))
    count, oldest = summary["count"], summary["oldest"]
    if not count or oldest is None:
        return CheckResult(
            "queue", "Queue", Status.OK, "No delivery is waiting to be sent.", data={"due": 0, "oldest_age_seconds": 0}
        )
    age = ctx.now - oldest
    data = {"due": count, "oldest_age_seconds": round(age.total_seconds(), 1)}
    sentence = f"{plural(count, 'delivery is', 'deliveries are')} due; the oldest has waited {duration(age)}."
    if age < QUEUE_WARNING_AFTER:
        return CheckResult("queue", "Queue", Status.OK, sentence, data=data)
    return CheckResult(
        "queue",
        "Queue",
        Status.PROBLEM if age >= QUEUE_PROBLEM_AFTER else Status.WARNING,
        sentence,
        fix=(
            "If the Worker check shows no worker, start `referloop worker`. If it runs, it is working through a "
            "backlog (ServiceTitan allows 60 calls per second per tenant); check the worker's log if the age keeps "
            "growing."
        ),
        data=data,
    )


# 11 ─────────────────────────────────────────────────────────────────────────────────────────────────────────
def check_follower(ctx: Context) -> CheckResult:
    """Whether the worker's follower keeps up with this integration (one tenant): its last successful cycle against
    two poll intervals, and the followed bookings that have waited longer than that. Reads the database only."""
    integration = ctx.integration
    every = follower.interval()
    limit = FOLLOW_STALE_INTERVALS * every
    follows = Follow.objects.filter(integration=integration)
    open_follows = follows.filter(settled_at__isnull=True)
    open_count = capped_count(open_follows, CAP)
    # A LIMITed count: the planner then walks the recent qualified leads to their follows (a nested loop)
    # instead of hashing every follow of the account.
    qualified = capped_count(
        Lead.objects.filter(follow__integration=integration, qualified_at__gte=ctx.now - QUALIFIED_WINDOW).exclude(
            qualified_by_rule=BY_HAND
        ),
        CAP,
    )
    sync = FollowSync.objects.filter(integration=integration).first()
    last_success = sync.last_success_at if sync else None
    # Every successful cycle clears the error, so an error means the tries since the last success failed.
    error = sync.last_error if sync else ""
    error_at = sync.last_error_at if sync else None
    # A cycle reads every open follow; one started after the last success waits from its own start.
    fresh = last_success is not None and last_success >= ctx.now - limit
    waiting = 0 if fresh else capped_count(open_follows.filter(started_at__lt=ctx.now - limit), CAP)
    data = {
        "open_follows": figure(open_count),
        "waiting": figure(waiting),
        "qualified_last_30_days": figure(qualified),
        "interval_seconds": every.total_seconds(),
        "last_success_at": last_success.isoformat() if last_success else None,
        "last_calls": sync.last_calls if sync else 0,
        "last_error": error,
        "last_error_at": error_at.isoformat() if error_at else None,
        **caps(open_follows=open_count, waiting=waiting, qualified_last_30_days=qualified),
    }
    tally = f"{capped_plural(qualified, 'lead')} qualified by the rule in the last 30 days"
    if not open_count:
        settled = capped_count(follows, CAP)
        sentence = (
            f"No booking to follow now: {'the' if settled == 1 else 'all'} "
            f"{capped_plural(settled, 'followed booking is', 'followed bookings are')} settled (paid, dismissed, "
            f"canceled or past the follow window); {tally}."
            if settled
            else "No booking to follow yet: the follower starts with the first booking created in ServiceTitan."
        )
        return CheckResult("follower", FOLLOWER, Status.OK, sentence, data=data)
    followed = f"{capped_plural(open_count, 'booking')} followed"
    failure = _last_failure(error, error_at, ctx.now)
    if waiting:
        behind = (
            f"the last successful check was {ago(last_success, ctx.now)}"
            if last_success
            else "no check has succeeded yet and the oldest booking has waited "
            f"{duration(ctx.now - _oldest(open_follows))}"
        )
        result = CheckResult(
            "follower",
            FOLLOWER,
            Status.PROBLEM,
            f"The follower is behind: {behind}, longer than two poll intervals ({duration(limit)}); "
            f"{capped_plural(waiting, 'lead has', 'leads have')} waited longer than that for news from ServiceTitan "
            f"({followed}, {tally}).{failure}",
            fix=_follower_fix(ctx, bool(error)),
            data=data,
        )
        tab = _follower_tab(ctx, bool(error))
        return result.link_to(fixes.tab_link(integration, tab)) if tab else result
    checked = (
        f"last checked {ago(last_success, ctx.now)}"
        if last_success
        else f"not checked yet (the first check comes within {duration(every)} of a booking)"
    )
    if error:
        return CheckResult(
            "follower",
            FOLLOWER,
            Status.WARNING,
            f"{followed}, {checked}, but the latest try did not finish.{failure}",
            fix=(
                "Nothing to do if it passes: the follower tries again within a minute and then reads every change "
                "since its last success, so nothing is missed. If the same error stays, fix its cause (Run checks "
                "tests the connection)."
            ),
            data=data,
        )
    return CheckResult("follower", FOLLOWER, Status.OK, f"{followed}, {checked}; {tally}.", data=data)


def _oldest(open_follows: QuerySet[Follow]) -> datetime:
    """When the longest-open follow started (asked only when no check has succeeded: the sentence needs it)."""
    return open_follows.aggregate(oldest=Min("started_at"))["oldest"]


def _last_failure(error: str, at: datetime | None, now: datetime) -> str:
    """` The last try failed 2 minutes ago (…): <error>.`, or "" without an error."""
    if not error:
        return ""
    when = f" {ago(at, now)}" if at else ""
    return f" The last try failed{when}: {error}{'' if error.endswith(('.', '!', '?')) else '.'}"


def _follower_fix(ctx: Context, failed: bool) -> str:
    if not ctx.readiness.can_read:
        return ctx.readiness.hold_reason or "Reconnect ServiceTitan on the Connection tab."
    if failed:
        return (
            "Fix the cause ServiceTitan gave: if it names the credentials, the App Key or the Booking Provider Value, "
            "fix them on the Connection tab (Run checks tests them). The follower retries every minute and then reads "
            "every change since its last success, so nothing is missed."
        )
    return (
        "Is a worker running? The follower runs inside it: start `referloop worker` (or `referloop serve`, which "
        "starts one) and keep it running (see the Worker check). It catches up on its own, reading every change "
        "since its last success."
    )


def _follower_tab(ctx: Context, failed: bool) -> str:
    """Where the follower's problem is fixed, or "" (a worker is started on the server, not on a screen)."""
    if not ctx.readiness.can_read:
        return fixes.LEADS if ctx.readiness.fix_tab == LEADS_TAB else fixes.CONNECTION
    return fixes.CONNECTION if failed else ""


# 13 ─────────────────────────────────────────────────────────────────────────────────────────────────────────
def check_known_customers(ctx: Context) -> CheckResult:
    """How complete and fresh the copy of the customers' contacts is, and what ServiceTitan answered when reading it
    failed (known_customers.py). Only run when the mapping asks ServiceTitan."""
    return known_customers_check.check_known_customers(ctx.integration, ctx.now)


def _extra_checks(ctx: Context) -> list[CheckResult]:
    """Checks that apply to some mappings only (so a default integration shows the twelve above)."""
    return [_safely(check_known_customers, ctx)] if wants_copy(ctx.integration) else []


# ────────────────────────────────────────────────────────────────────────────────────────────────────────────
DB_BEFORE_LIVE: list[Check] = [check_lead_action, check_required_fields, check_mapping_on_leads]
DB_AFTER_LIVE: list[Check] = [check_deliveries, check_held, check_worker, check_queue, check_follower]
TITLES: dict[Check, str] = {
    check_lead_action: "Lead action",
    check_required_fields: "Required fields",
    check_mapping_on_leads: "Mapping on real leads",
    check_deliveries: "Deliveries (24 hours)",
    check_held: "Held leads",
    check_worker: "Worker",
    check_queue: "Queue",
    check_follower: FOLLOWER,
    check_known_customers: KNOWN_CUSTOMERS,
}


def run_checks(integration: Integration, *, network: bool = True, now: datetime | None = None) -> list[CheckResult]:
    """Every check in order. With `network=False` the ServiceTitan checks are reported as not run."""
    ctx = _context(integration, now)
    results = [_safely(check, ctx) for check in DB_BEFORE_LIVE]
    live_results = live.live_checks(integration) if network else live.not_run()
    results += [*live_results, _pick_lists_safely(integration, live_results, network)]
    results += [_safely(check, ctx) for check in DB_AFTER_LIVE]
    return results + _extra_checks(ctx)


def _pick_lists_safely(integration: Integration, live_results: list[CheckResult], network: bool) -> CheckResult:
    """Stored Job Type, Business Unit and Campaign ids: read afresh with `network`, else from the cache."""
    # The lists need a token and the App Key; a wrong Booking Provider Value does not stop them.
    if network and has_problem([r for r in live_results if r.key in (live.CREDENTIALS[0], live.APP_KEY[0])]):
        return CheckResult(
            *pick_list_check.PICK_LISTS, Status.SKIPPED, "Skipped: it needs working credentials first (see above)."
        )
    try:
        return pick_list_check.check_pick_lists(integration, fresh=network)
    except Exception as exc:  # a check must never take the page or the command down
        logger.exception("diagnostic check pick_lists failed")
        return CheckResult(
            *pick_list_check.PICK_LISTS, Status.PROBLEM, f"This check could not run: {type(exc).__name__}: {exc}"
        )


def cheap_checks(integration: Integration, *, now: datetime | None = None) -> list[CheckResult]:
    """The database-only checks (no network): fast enough for every page view."""
    ctx = _context(integration, now)
    return [_safely(check, ctx) for check in DB_BEFORE_LIVE + DB_AFTER_LIVE] + _extra_checks(ctx)


def _context(integration: Integration, now: datetime | None) -> Context:
    return Context(
        integration=integration,
        now=now or timezone.now(),
        custom_fields=list(integration.campaign.custom_fields.all()),
    )


def _safely(check: Check, ctx: Context) -> CheckResult:
    try:
        return check(ctx)
    except Exception as exc:  # a check must never take the page or the command down
        logger.exception("diagnostic check %s failed", check.__name__)
        key = check.__name__.removeprefix("check_")
        return CheckResult(
            key,
            TITLES.get(check, key),
            Status.PROBLEM,
            f"This check could not run: {type(exc).__name__}: {exc}",
            fix="Run the checks again; if this stays, send a support bundle to referloop support.",
        )
