"""Reading rewards: lists with their state, totals per currency, a referrer's rewards, each in a fixed number of
queries however many rows (the Rewards tab, the lead and referrer pages, the API and the referrer's own page)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import BooleanField, Count, ExpressionWrapper, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from referloop.campaigns.models import QUALIFIED_STATUSES, Campaign, Lead, Referrer
from referloop.rewards import codes
from referloop.rewards.models import (
    Recipient,
    Reward,
    RewardKind,
    RewardState,
    RewardStatus,
    state_at,
    state_case,
    state_q,
)

QUALIFIED = QUALIFIED_STATUSES


def rewards(campaign: Campaign | None = None) -> QuerySet[Reward]:
    """Rewards with what every list shows of them in the same query: the people, the code, who acted."""
    found = Reward.objects.select_related("lead", "referrer", "pool_code", "issued_by", "canceled_by")
    return found.filter(campaign=campaign) if campaign is not None else found


def in_state(found: QuerySet[Reward], state: str, now: datetime | None = None) -> QuerySet[Reward]:
    """Filter by a RewardState value; anything else (empty, unknown) leaves the list as it is."""
    if state not in RewardState.values:
        return found
    return found.filter(state_q(state, now or timezone.now()))


def state_counts(found: QuerySet[Reward], now: datetime | None = None) -> dict[str, int]:
    """How many rewards are in each state: one query."""
    counts = dict.fromkeys(RewardState.values, 0)
    rows = found.order_by().annotate(state_now=state_case(now or timezone.now())).values("state_now")
    for row in rows.annotate(n=Count("pk")):
        counts[row["state_now"]] = row["n"]
    return counts


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    due: Decimal
    due_count: int
    issued_this_month: Decimal
    issued_count: int


@dataclass(frozen=True)
class Totals:
    """Due now and issued this month, per currency; rewards without an amount (a code, a text, an amount still
    to be entered) are counted apart."""

    month_start: datetime
    money: list[CurrencyTotal]
    due_other: int
    issued_other: int

    @property
    def due_any(self) -> bool:
        return self.due_other > 0 or any(total.due_count for total in self.money)

    @property
    def issued_any(self) -> bool:
        return self.issued_other > 0 or any(total.issued_count for total in self.money)


def month_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def totals(campaign: Campaign, now: datetime | None = None) -> Totals:
    """One query: grouped by currency, with conditional sums."""
    now = now or timezone.now()
    start = month_start(now)
    due = state_q(RewardState.DUE, now)
    issued = Q(status=RewardStatus.ISSUED, issued_at__gte=start)
    rows = (
        Reward.objects.filter(campaign=campaign)
        .filter(due | issued)
        .order_by()
        .values("currency", has_amount=ExpressionWrapper(Q(amount__isnull=False), output_field=BooleanField()))
        .annotate(
            due_sum=Sum("amount", filter=due),
            due_n=Count("pk", filter=due),
            issued_sum=Sum("amount", filter=issued),
            issued_n=Count("pk", filter=issued),
        )
    )
    found: list[CurrencyTotal] = []
    due_other = issued_other = 0
    for row in rows:
        if not row["has_amount"]:
            due_other += row["due_n"]
            issued_other += row["issued_n"]
            continue
        found.append(
            CurrencyTotal(
                row["currency"],
                row["due_sum"] or Decimal("0.00"),
                row["due_n"],
                row["issued_sum"] or Decimal("0.00"),
                row["issued_n"],
            )
        )
    return Totals(start, sorted(found, key=lambda total: total.currency), due_other, issued_other)


def mark_problems(found: Iterable[Reward], campaign: Campaign) -> None:
    """Set `issue_problem` on each open reward that can't be issued as it is: its code pool is empty, or its
    amount is unknown. One query (the pools), whatever the number of rewards."""
    left = codes.left_by_rule(campaign)
    for reward in found:
        problem = ""
        if reward.status == RewardStatus.OPEN:
            if reward.kind == RewardKind.CODE and left.get(reward.rule_id, 0) == 0:
                problem = codes.EMPTY
            elif reward.problem:
                problem = reward.problem
        reward.issue_problem = problem  # type: ignore[attr-defined]


def rewards_of_lead(lead: Lead) -> list[Reward]:
    found = list(rewards().filter(lead=lead).order_by("created_at", "pk"))
    mark_problems(found, lead.campaign)
    return found


def rewards_of_referrer(referrer: Referrer) -> list[Reward]:
    """The rewards a referrer earned (not their friends' own rewards), newest first, each with `.state`.

    For the referrer's own page: it shows only their rewards, and each reward's `lead` is the friend whose
    referral earned it (show the first name only there).
    """
    return list(rewards().filter(referrer=referrer, recipient=Recipient.REFERRER).order_by("-created_at", "-pk"))


def all_rewards_of_referrer(referrer: Referrer) -> list[Reward]:
    """Every reward through a referrer's referrals, theirs and their friends', for the owner's referrer page."""
    found = list(rewards().filter(referrer=referrer).order_by("-created_at", "-pk"))
    mark_problems(found, referrer.campaign)
    return found


@dataclass
class AmountTotal:
    currency: str
    pending: Decimal = Decimal("0.00")
    due: Decimal = Decimal("0.00")
    issued: Decimal = Decimal("0.00")


@dataclass
class ReferrerSummary:
    """A referrer's rewards as counts per state and amounts per currency (the API's referrer object)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RewardState.values, 0))
    amounts: list[AmountTotal] = field(default_factory=list)


def summary_rewards() -> QuerySet[Reward]:
    """The rewards a referrer's summary counts: their own (recipient referrer), not their friends'."""
    return Reward.objects.filter(recipient=Recipient.REFERRER).only(
        "pk", "referrer_id", "status", "due_at", "amount", "currency"
    )


def with_summaries(referrers: QuerySet[Referrer]) -> QuerySet[Referrer]:
    """Referrers with their lead counts (annotations) and their rewards (one prefetch query for the whole page),
    so `summary_of` costs no query per referrer."""
    return referrers.annotate(
        lead_count=Count("leads", distinct=True),
        qualified_count=Count("leads", filter=Q(leads__status__in=QUALIFIED), distinct=True),
    ).prefetch_related(
        Prefetch(
            "rewards",
            queryset=summary_rewards().order_by(),
            to_attr="summary_rewards",
        )
    )


def summary_of(referrer: Referrer, now: datetime | None = None) -> ReferrerSummary:
    now = now or timezone.now()
    summary = ReferrerSummary()
    amounts: dict[str, AmountTotal] = defaultdict(lambda: AmountTotal(""))
    found = getattr(referrer, "summary_rewards", None)
    if found is None:
        found = list(summary_rewards().filter(referrer=referrer))
    for reward in found:
        state = state_at(reward.status, reward.due_at, now)
        summary.counts[state] += 1
        if reward.amount is None or state is RewardState.CANCELED:
            continue
        total = amounts[reward.currency]
        total.currency = reward.currency
        setattr(total, state.value, getattr(total, state.value) + reward.amount)
    summary.amounts = [amounts[currency] for currency in sorted(amounts)]
    return summary
