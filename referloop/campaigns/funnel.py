"""The referral funnel on a campaign's Overview: referrers → leads → booked → jobs → completed → qualified."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from referloop.campaigns.models import QUALIFIED_STATUSES, Campaign, LeadStage

# The chart's drawing (campaigns/_funnel.html), in pixels down the page. Across, everything is a percentage of the
# chart's width, which is its container's: the bars stretch or shrink with the screen while the text keeps its
# size (a viewBox would scale the text with the bars, too small on a phone or too big on a desktop).
ROW_HEIGHT = 50
BAR_HEIGHT = 16
MIN_BAR_PERCENT = 1.0  # a step with anyone in it shows at least a sliver, so it never reads as zero

PERIODS = (30, 90, 365)  # the Overview's period switch, in days
DEFAULT_PERIOD = 90

# How far a lead got in the business's CRM, from its stage as the follower last saw it: each stage implies the
# ones before it. A dismissed booking was booked (and never became a job); a canceled job was a job; a paid job
# was completed.
BOOKED = (
    LeadStage.BOOKED,
    LeadStage.DISMISSED,
    LeadStage.JOB,
    LeadStage.COMPLETED,
    LeadStage.PAID,
    LeadStage.CANCELED,
)
JOBS = (LeadStage.JOB, LeadStage.COMPLETED, LeadStage.PAID, LeadStage.CANCELED)
COMPLETED = (LeadStage.COMPLETED, LeadStage.PAID)
QUALIFIED = QUALIFIED_STATUSES


def period_from(value: str | None) -> int:
    """The `?days=` of the Overview: one of PERIODS, anything else (missing, empty, 7, "abc") the default."""
    return int(value) if value in {str(days) for days in PERIODS} else DEFAULT_PERIOD


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    count: int
    # This step's count as a whole percentage of the step before; None for the first step, and when the step
    # before counted nobody (no division by zero). It can pass 100: see `funnel`.
    conversion: int | None
    before: str = ""  # the step before, as the percentage names it: "of leads"


@dataclass(frozen=True)
class Bar:
    """One step as the chart draws it: its label and numbers on a line, the bar under them."""

    step: Step
    text_y: int
    bar_y: int
    width: float  # a percentage of the chart's width: the longest step is 100


@dataclass(frozen=True)
class Funnel:
    days: int
    since: datetime
    referrers: int
    leads: int
    booked: int
    jobs: int
    completed: int
    qualified: int

    @property
    def steps(self) -> list[Step]:
        counts = [
            ("referrers", "Referrers", self.referrers),
            ("leads", "Leads", self.leads),
            ("booked", "Booked", self.booked),
            ("jobs", "Jobs", self.jobs),
            ("completed", "Completed", self.completed),
            ("qualified", "Qualified", self.qualified),
        ]
        steps: list[Step] = []
        for key, label, count in counts:
            before = steps[-1] if steps else None
            steps.append(
                Step(
                    key,
                    label,
                    count,
                    percent(count, before.count if before else None),
                    before.label.lower() if before else "",
                )
            )
        return steps

    @property
    def bars(self) -> list[Bar]:
        steps = self.steps
        longest = max(step.count for step in steps) or 1
        return [
            Bar(
                step,
                text_y=row * ROW_HEIGHT + 16,
                bar_y=row * ROW_HEIGHT + 24,
                width=round(max(100 * step.count / longest, MIN_BAR_PERCENT), 1) if step.count else 0,
            )
            for row, step in enumerate(steps)
        ]

    @property
    def bar_height(self) -> int:
        return BAR_HEIGHT

    @property
    def chart_height(self) -> int:
        return len(self.steps) * ROW_HEIGHT - (ROW_HEIGHT - 24 - BAR_HEIGHT)

    @property
    def is_empty(self) -> bool:
        """No referrals (leads) in the period: the Overview says so instead of drawing a chart of zeros."""
        return self.leads == 0

    @property
    def summary(self) -> str:
        """The chart in one sentence, for screen readers (the SVG's title)."""
        parts = "; ".join(
            f"{step.label}: {step.count}"
            + ("" if step.conversion is None else f" ({step.conversion}% of {step.before})")
            for step in self.steps
        )
        return f"Referral funnel, last {self.days} days. {parts}."


def percent(count: int, previous: int | None) -> int | None:
    """`count` as a whole percentage of `previous`, rounded half up; None when there is nothing to divide by."""
    if not previous:
        return None
    return (200 * count + previous) // (2 * previous)


def funnel(campaign: Campaign, days: int = DEFAULT_PERIOD, now: datetime | None = None) -> Funnel:
    """The campaign's funnel over the last `days` days (up to `now`), in two queries whatever the number of leads.

    - referrers: referrers who joined the campaign in the period;
    - leads: leads created in the period. The later steps count only those leads, by where each stands today:
    - booked: a booking was made in the CRM: any stage but "not booked" (booked, dismissed, job, completed, paid,
      canceled). A dismissed booking and a canceled job were booked first;
    - jobs: the booking became a job (stage job, completed, paid or canceled);
    - completed: the job was completed (stage completed or paid);
    - qualified: the referral qualified (status qualified or rewarded), by the campaign's rule or by hand.

    Each step's conversion is its count as a percentage of the step before. Two steps can pass 100%: leads come
    from referrers who joined before the period too (and one referrer sends many), and a rule such as "Booking
    becomes a job", or an owner qualifying by hand, qualifies leads that were never completed.
    """
    since = (now or timezone.now()) - timedelta(days=days)
    counts = campaign.leads.filter(created_at__gte=since).aggregate(
        leads=Count("pk"),
        booked=Count("pk", filter=Q(stage__in=BOOKED)),
        jobs=Count("pk", filter=Q(stage__in=JOBS)),
        completed=Count("pk", filter=Q(stage__in=COMPLETED)),
        qualified=Count("pk", filter=Q(status__in=QUALIFIED)),
    )
    referrers = campaign.referrers.filter(created_at__gte=since).count()
    return Funnel(days=days, since=since, referrers=referrers, **counts)
