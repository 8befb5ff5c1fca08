"""Reward rules per campaign, the code pools they draw from, the rewards earned and their audit trail.

A reward's state has one definition, in the database: `status` is stored (open, issued, canceled) and an open
reward is Pending until `due_at`, then Due. Nothing has to wake up to move a reward from Pending to Due, and every
screen, filter, total and the API read it the same way (`state_case`, `state_q`; `Reward.state` for one row).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from referloop.campaigns.models import Campaign, Lead, Referrer

HOLD_DAYS_LIMIT = 365
NOTE_LIMIT = 500
REASON_LIMIT = 300
CODE_LIMIT = 200


class Recipient(models.TextChoices):
    REFERRER = "referrer", "Referrer"
    FRIEND = "friend", "Friend"


class Trigger(models.TextChoices):
    QUALIFIED = "qualified", "Friend qualifies"
    JOINED = "joined", "Friend joins"
    MILESTONE = "milestone", "Milestone bonus"


class RewardKind(models.TextChoices):
    NONE = "", "No reward"
    FIXED = "fixed", "Fixed amount"
    PERCENT = "percent", "Percentage of the invoice total"
    CODE = "code", "Code from a pool"
    CUSTOM = "custom", "Custom text"


MONEY_KINDS = (RewardKind.FIXED, RewardKind.PERCENT)


class RewardProgram(models.Model):
    """A campaign's settings that apply to all its rules: the hold period and the low-code-pool warning."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="reward_program")
    hold_days = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(HOLD_DAYS_LIMIT)])
    low_codes_at = models.PositiveIntegerField(default=10)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"reward program of {self.campaign_id}"


class RewardRule(models.Model):
    """Who earns what, and when: one row per (recipient, trigger) of a campaign; `kind` "" means off.

    Rows are turned off, never deleted, so a code pool and the rewards earned under a rule keep their rule.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reward_rules")
    recipient = models.CharField(max_length=10, choices=Recipient.choices)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    kind = models.CharField(max_length=10, choices=RewardKind.choices, default=RewardKind.NONE, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD", blank=True)
    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
    )
    text = models.CharField(max_length=300, blank=True)  # custom text, or what a pool's codes are ("$25 gift card")
    every = models.PositiveSmallIntegerField(null=True, blank=True)  # a milestone: every Nth qualified referral

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "recipient", "trigger"], name="reward_rule_per_slot"),
            models.CheckConstraint(
                condition=~Q(trigger="milestone") | Q(recipient="referrer"), name="reward_rule_milestone_referrer"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_recipient_display()} · {self.get_trigger_display()} · {self.get_kind_display()}"

    @property
    def is_on(self) -> bool:
        return bool(self.kind) and (self.trigger != Trigger.MILESTONE or bool(self.every))


class RewardCode(models.Model):
    """One code of a rule's pool; `reward` is set when the code is given, and never to a second reward."""

    rule = models.ForeignKey(RewardRule, on_delete=models.CASCADE, related_name="codes")
    code = models.CharField(max_length=CODE_LIMIT)
    # RESTRICT: a reward that holds a code is deleted only with its whole campaign.
    reward = models.OneToOneField("Reward", on_delete=models.RESTRICT, null=True, blank=True, related_name="pool_code")
    added_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "code"], name="reward_code_once_per_pool")]
        indexes = [models.Index(fields=["rule", "reward"], name="reward_code_free")]

    def __str__(self) -> str:
        return self.code


class RewardStatus(models.TextChoices):
    """What is stored. Pending and Due are both `open`: which one is a matter of `due_at` (see `RewardState`)."""

    OPEN = "open", "Open"
    ISSUED = "issued", "Issued"
    CANCELED = "canceled", "Canceled"


class RewardState(models.TextChoices):
    """What a person sees: Pending (in the hold period) → Due → Issued, or Canceled."""

    PENDING = "pending", "Pending"
    DUE = "due", "Due"
    ISSUED = "issued", "Issued"
    CANCELED = "canceled", "Canceled"


def state_q(state: RewardState | str, now: datetime) -> Q:
    """The rewards in `state` at `now`, as a filter (SQL)."""
    return {
        RewardState.PENDING: Q(status=RewardStatus.OPEN, due_at__gt=now),
        RewardState.DUE: Q(status=RewardStatus.OPEN, due_at__lte=now),
        RewardState.ISSUED: Q(status=RewardStatus.ISSUED),
        RewardState.CANCELED: Q(status=RewardStatus.CANCELED),
    }[RewardState(state)]


def state_case(now: datetime) -> Case:
    """Each reward's state at `now`, as an expression (SQL) to group or annotate by."""
    return Case(
        *[When(state_q(state, now), then=Value(state.value)) for state in RewardState],
        output_field=models.CharField(),
    )


def state_at(status: str, due_at: datetime, now: datetime) -> RewardState:
    """The same rule as `state_q`, for one row in hand (tests check that the two agree)."""
    if status == RewardStatus.ISSUED:
        return RewardState.ISSUED
    if status == RewardStatus.CANCELED:
        return RewardState.CANCELED
    return RewardState.DUE if due_at <= now else RewardState.PENDING


class Reward(models.Model):
    """What one person earned through one lead. What it is (kind, amount, text) is copied from the rule when it is
    earned, so changing the rules later never changes a reward already earned."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rewards")
    rule = models.ForeignKey(RewardRule, on_delete=models.RESTRICT, related_name="rewards")
    lead = models.ForeignKey(Lead, on_delete=models.RESTRICT, related_name="rewards")
    # The referrer credited with the lead, also on the friend's rewards (the API and the tab filter by it).
    referrer = models.ForeignKey(Referrer, on_delete=models.RESTRICT, related_name="rewards")
    recipient = models.CharField(max_length=10, choices=Recipient.choices)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    milestone = models.PositiveIntegerField(null=True, blank=True)  # the Nth qualified referral it rewards
    kind = models.CharField(max_length=10, choices=RewardKind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    invoice_total = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    text = models.CharField(max_length=300, blank=True)
    # Why it can't be issued as it is (a percentage of an unknown invoice total: the amount is asked at issue).
    problem = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=RewardStatus.choices, default=RewardStatus.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    issue_note = models.CharField(max_length=NOTE_LIMIT, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    canceled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cancel_reason = models.CharField(max_length=NOTE_LIMIT, blank=True)
    # Canceled because the referral was unqualified: qualifying it again reopens this reward (a reward canceled
    # by a person stays canceled).
    reopenable = models.BooleanField(default=False)

    class Meta:
        constraints = [
            # A lead never yields two rewards of the same kind, whoever qualifies it and however often.
            models.UniqueConstraint(fields=["lead", "recipient", "trigger"], name="reward_once_per_lead_kind"),
            # A referrer's Nth qualified referral earns its milestone bonus once.
            models.UniqueConstraint(
                fields=["referrer", "milestone"],
                condition=Q(trigger="milestone"),
                name="reward_milestone_once_per_referrer",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="open", issued_at__isnull=True, canceled_at__isnull=True)
                    | Q(status="issued", issued_at__isnull=False, canceled_at__isnull=True)
                    | Q(status="canceled", canceled_at__isnull=False, issued_at__isnull=True)
                ),
                name="reward_status_dates",
            ),
            models.CheckConstraint(condition=Q(amount__isnull=True) | Q(amount__gte=0), name="reward_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "due_at"], name="reward_campaign_state"),
            models.Index(fields=["campaign", "issued_at"], name="reward_campaign_issued"),
            models.Index(fields=["referrer", "status"], name="reward_referrer_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_recipient_display()} reward of lead {self.lead_id}: {self.summary}"

    @property
    def state(self) -> RewardState:
        return state_at(self.status, self.due_at, timezone.now())

    @property
    def is_money(self) -> bool:
        return self.kind in MONEY_KINDS

    @property
    def code(self) -> str:
        """The pool code given at issue, or "" (`select_related("pool_code")` to read it without a query)."""
        pool_code = getattr(self, "pool_code", None)
        return pool_code.code if pool_code is not None else ""

    @property
    def recipient_person(self) -> Referrer | Lead:
        return self.referrer if self.recipient == Recipient.REFERRER else self.lead

    @property
    def summary(self) -> str:
        """What the reward is, in a few words: "USD 50.00", "10% of USD 480.00 = USD 48.00", the custom text."""
        if self.kind == RewardKind.FIXED:
            return money(self.amount, self.currency)
        if self.kind == RewardKind.PERCENT:
            base = money(self.invoice_total, self.currency) if self.invoice_total is not None else "an unknown total"
            worked = f" = {money(self.amount, self.currency)}" if self.amount is not None else ""
            return f"{self.percent.normalize():f}% of {base}{worked}" if self.percent is not None else worked
        if self.kind == RewardKind.CODE:
            return self.text or "A code from the pool"
        return self.text

    @property
    def payout(self) -> str:
        """What the recipient gets, for their own eyes (portal page, reward email): "USD 48.00", the code reward's or
        custom text. Unlike `summary` it never shows a percentage's invoice total (the friend's business)."""
        if self.kind == RewardKind.PERCENT:
            return money(self.amount, self.currency) if self.amount is not None else ""
        return self.summary

    @property
    def occasion(self) -> str:
        """Why it was earned: "Friend qualified", "Milestone: 5th qualified referral", "Friend joined"."""
        if self.trigger == Trigger.MILESTONE:
            return f"Milestone: {ordinal(self.milestone or 0)} qualified referral"
        return "Friend joined" if self.trigger == Trigger.JOINED else "Friend qualified"


class RewardEvent(models.Model):
    """One change of a reward (earned, issued, canceled, reopened), with who made it (None: referloop itself, or
    an API key: `detail` says which)."""

    reward = models.ForeignKey(Reward, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20)  # earned | issued | canceled | reopened
    title = models.CharField(max_length=200)
    detail = models.CharField(max_length=600, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["reward", "at"], name="reward_event_reward_at")]

    def __str__(self) -> str:
        return f"{self.title} ({self.at:%Y-%m-%d %H:%M})"


def money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return "amount not known"
    return f"{currency} {amount:,.2f}".strip()


def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
