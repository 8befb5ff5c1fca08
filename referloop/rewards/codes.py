"""Code pools: the codes an owner uploads for a code reward (gift cards, coupons), each given to one reward only.

A code is taken when its reward is issued, inside that transaction: `SELECT … FOR UPDATE SKIP LOCKED` lets two
people issuing at once take two different codes without waiting on each other (PostgreSQL), and the conditional
UPDATE plus the one-to-one column make sure no code is ever given twice, whatever the database (SQLite's
IMMEDIATE transactions simply run one issue after the other).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery

from referloop.accounts.models import User
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.models import Campaign
from referloop.rewards.models import (
    CODE_LIMIT,
    Reward,
    RewardCode,
    RewardKind,
    RewardProgram,
    RewardRule,
    RewardStatus,
)

EMPTY = "Code pool is empty: upload codes on Campaign Settings → Rewards."
UPLOAD_LIMIT = 10_000  # codes in one upload
UPLOAD_BYTES = 1024 * 1024
NOT_CSV = "A line is too long or not valid CSV: put one code per line, or the codes in a CSV's first column."
HEADERS = {"code", "codes", "coupon", "coupon code", "gift card", "voucher"}


@dataclass(frozen=True)
class Pool:
    rule: RewardRule
    left: int
    given: int
    low_at: int
    waiting: int = 0  # rewards earned as codes, not issued yet

    @property
    def retired(self) -> bool:
        """The rule gives something else now, but rewards earned under it as codes still wait for one."""
        return self.rule.kind != RewardKind.CODE or not self.rule.is_on

    @property
    def is_empty(self) -> bool:
        return self.left == 0

    @property
    def is_low(self) -> bool:
        return 0 < self.left < self.low_at

    @property
    def warning(self) -> str:
        whose = f"the {rule_label(self.rule)}"
        if self.retired and self.waiting > self.left:
            short = self.waiting - self.left
            rewards = f"{self.waiting} reward{'s' if self.waiting != 1 else ''}"
            now = "is no longer a code" if self.rule.kind != RewardKind.CODE else "is off"
            return (
                f"The {rule_label(self.rule)} {now}, but {rewards} earned as codes still wait for one: upload "
                f"{short} more, or cancel {'them' if short != 1 else 'it'}."
            )
        if self.retired:
            return ""
        if self.is_empty:
            return f"Code pool is empty for {whose}: upload codes, or its rewards can't be issued."
        if self.is_low:
            return (
                f"Only {self.left} code{'s' if self.left != 1 else ''} left for {whose} (you asked to be warned "
                f"below {self.low_at}): upload more."
            )
        return ""


def rule_label(rule: RewardRule) -> str:
    if rule.trigger == "milestone":
        return "milestone bonus"
    return f"{rule.get_recipient_display().lower()}'s reward"


def pools(campaign: Campaign) -> list[Pool]:
    """The campaign's code pools, with codes left and given and rewards waiting, in one query: every rule whose
    reward is a code now, and every rule that was one while rewards were earned that still wait for a code."""
    low_at = RewardProgram.objects.filter(campaign=campaign).values_list("low_codes_at", flat=True).first()
    waiting = Reward.objects.filter(rule=OuterRef("pk"), kind=RewardKind.CODE, status=RewardStatus.OPEN)
    rules = (
        RewardRule.objects.filter(campaign=campaign)
        .annotate(
            left=Count("codes", filter=Q(codes__reward__isnull=True)),
            given=Count("codes", filter=Q(codes__reward__isnull=False)),
            waiting=Subquery(
                waiting.order_by().values("rule").annotate(n=Count("pk")).values("n"), output_field=IntegerField()
            ),
        )
        .order_by("pk")
    )
    return [
        Pool(rule, rule.left, rule.given, 10 if low_at is None else low_at, rule.waiting or 0)
        for rule in rules
        if (rule.kind == RewardKind.CODE and rule.is_on) or rule.waiting
    ]


def takes_codes(rule: RewardRule) -> bool:
    """Whether codes may be added to the rule's pool: it gives codes, or rewards it gave as codes still wait."""
    if rule.kind == RewardKind.CODE:
        return True
    return Reward.objects.filter(rule=rule, kind=RewardKind.CODE, status=RewardStatus.OPEN).exists()


def left_by_rule(campaign: Campaign) -> dict[int, int]:
    """Codes left per rule of the campaign (whatever the rule gives today: a reward earned as a code keeps its
    pool), one query."""
    rows = (
        RewardCode.objects.filter(rule__campaign=campaign, reward__isnull=True)
        .order_by()
        .values("rule_id")
        .annotate(n=Count("pk"))
    )
    return {row["rule_id"]: row["n"] for row in rows}


def parse(text: str) -> list[str]:
    """One code per line, or a CSV file whose first column holds them (a header such as "code" is skipped).
    Blank lines and repeats are dropped; a code too long or with control characters is refused, naming its line."""
    found: list[str] = []
    seen: set[str] = set()
    problems: list[str] = []
    try:
        rows = list(enumerate(csv.reader(io.StringIO(text)), start=1))
    except csv.Error:  # a field past the csv module's limit (a very long line), or not CSV at all
        raise InputRejected({"codes": [NOT_CSV]}) from None
    for number, row in rows:
        cell = row[0].strip() if row else ""
        if not cell or (number == 1 and cell.lower() in HEADERS):
            continue
        if len(cell) > CODE_LIMIT:
            problems.append(f"Line {number}: a code can be at most {CODE_LIMIT} characters.")
        elif any(ord(char) < 32 or ord(char) == 127 for char in cell):
            problems.append(f"Line {number}: a code can't contain control characters.")
        elif cell not in seen:
            seen.add(cell)
            found.append(cell)
        if len(problems) >= 5:
            break
    if problems:
        raise InputRejected({"codes": problems})
    if not found:
        raise InputRejected({"codes": ["No codes found: put one code per line, or the codes in a CSV's first column."]})
    if len(found) > UPLOAD_LIMIT:
        raise InputRejected({"codes": [f"Upload at most {UPLOAD_LIMIT:,} codes at a time."]})
    return found


def add(rule: RewardRule, text: str, by: User | None) -> tuple[int, int]:
    """Add the codes in `text` to the rule's pool: (added, already in the pool)."""
    if not takes_codes(rule):
        raise InputRejected({"codes": ["This reward is not a code from a pool: choose “Code from a pool” first."]})
    found = parse(text)
    with transaction.atomic():
        before = RewardCode.objects.filter(rule=rule).count()
        RewardCode.objects.bulk_create(
            [RewardCode(rule=rule, code=code, added_by=by) for code in found], ignore_conflicts=True, batch_size=500
        )
        added = RewardCode.objects.filter(rule=rule).count() - before
    return added, len(found) - added


def take(reward: Reward) -> RewardCode:
    """Give `reward` a free code of its rule's pool, in the caller's transaction; InputRejected if none is left."""
    for _ in range(20):  # each round loses only to a concurrent issue that took the code first
        free = (
            RewardCode.objects.select_for_update(skip_locked=True)
            .filter(rule_id=reward.rule_id, reward__isnull=True)
            .order_by("pk")
            .first()
        )
        if free is None:
            raise InputRejected({"code": [EMPTY]})
        if RewardCode.objects.filter(pk=free.pk, reward__isnull=True).update(reward=reward):
            free.reward = reward
            return free
    raise InputRejected({"code": ["The code pool is busy: try again."]})
