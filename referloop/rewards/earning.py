"""Rewards are earned here, from the lead's outcomes: when a friend qualifies, is unqualified, or joins.

Each function runs as a hook inside the transaction of the change (campaigns/outcomes.py, campaigns/admission.py)
and writes its reward rows and their audit events there, so a change and its rewards commit together or not at
all. A lead never yields two rewards of the same kind: the unique constraints decide, and a conflict (qualified
again by hand, a second worker) is kept inside a savepoint so the caller's change still commits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from referloop.accounts.models import User
from referloop.campaigns.admission import welcomes
from referloop.campaigns.models import QUALIFIED_STATUSES, Lead, LeadEvent, Referrer
from referloop.integrations.models import Follow
from referloop.rewards.models import (
    Recipient,
    Reward,
    RewardEvent,
    RewardKind,
    RewardProgram,
    RewardRule,
    RewardStatus,
    Trigger,
)
from referloop.runtime import plain_sql

CENT = Decimal("0.01")
COUNTED = QUALIFIED_STATUSES  # a referrer's qualified referrals, for milestones


@dataclass(frozen=True)
class Terms:
    """What a rule gives for one lead, worked out when the reward is earned."""

    amount: Decimal | None
    invoice_total: Decimal | None
    problem: str


@transaction.atomic  # the caller's transaction as a savepoint; its own when a caller runs in autocommit
def on_qualified(lead_id: int, at: datetime) -> None:
    """The friend qualified: the referrer's and the friend's rewards, and the referrer's milestone bonus if this
    referral is their Nth. Each is Pending for the campaign's hold period, then Due."""
    rules = active_rules(Lead.objects.filter(pk=lead_id).values_list("campaign_id", flat=True).first())
    wanted = [rules[key] for key in ((Recipient.REFERRER, Trigger.QUALIFIED), (Recipient.FRIEND, Trigger.QUALIFIED))]
    milestone = rules[(Recipient.REFERRER, Trigger.MILESTONE)]
    if not any(wanted) and milestone is None:
        return
    lead = Lead.objects.select_related("campaign", "referrer").get(pk=lead_id)
    due_at = at + timedelta(days=hold_days(lead.campaign_id))
    for rule in wanted:
        if rule is not None:
            grant(rule, lead, at, due_at)
    if milestone is not None and milestone.every:
        # The referrer's row lock orders two of their referrals qualifying at once, so each sees the other's count.
        Referrer.objects.select_for_update().filter(pk=lead.referrer_id).first()
        count = Lead.objects.filter(referrer_id=lead.referrer_id, status__in=COUNTED).count()
        if count and count % milestone.every == 0:
            grant(milestone, lead, at, due_at, milestone=count)


@transaction.atomic
def on_unqualified(lead_id: int, at: datetime) -> None:
    """A qualified referral was unqualified (by hand): its rewards not issued yet are canceled, saying why.

    In the hold period that is the point of the hold; after it (Due, not issued yet) a reward for a referral the
    business no longer counts must not be issued either. Issued rewards stay issued (the money is gone). The
    thank-you for joining stays: the friend did join.
    """
    lead = Lead.objects.get(pk=lead_id)
    change = LeadEvent.objects.filter(lead_id=lead_id, kind="not_qualified").order_by("-at", "-pk").first()
    user = change.user if change is not None else None
    reason = lead.status_reason or "no reason given"
    open_rewards = Reward.objects.select_for_update().filter(
        lead_id=lead_id, status=RewardStatus.OPEN, trigger__in=(Trigger.QUALIFIED, Trigger.MILESTONE)
    )
    # The referrer's row lock orders this against their referrals qualifying at once (as `on_qualified` does).
    Referrer.objects.select_for_update().filter(pk=lead.referrer_id).first()
    count = Lead.objects.filter(referrer_id=lead.referrer_id, status__in=COUNTED).count()
    # A milestone bonus earned through another referral is no longer reached once this one stops counting.
    beyond = Reward.objects.select_for_update().filter(
        referrer_id=lead.referrer_id, trigger=Trigger.MILESTONE, status=RewardStatus.OPEN, milestone__gt=count
    )
    for reward in [*open_rewards, *beyond.exclude(lead_id=lead_id)]:
        when = "during the hold" if reward.due_at > at else "before the reward was issued"
        text = f"The referral was unqualified {when}: {reason}"
        if reward.lead_id != lead_id:
            text = (
                f"A referral was unqualified {when}, so the referrer has {count} qualified referrals, fewer than "
                f"the milestone's {reward.milestone}: {reason}"
            )
        done = Reward.objects.filter(pk=reward.pk, status=RewardStatus.OPEN).update(
            status=RewardStatus.CANCELED,
            canceled_at=at,
            canceled_by=user,
            cancel_reason=text[:500],
            reopenable=True,
        )
        if done:
            record(reward, at, "canceled", "Canceled", text, user)


@transaction.atomic
def on_invoice_total(lead_id: int, total: Decimal, at: datetime) -> None:
    """The invoice total of the referral's job became known or changed: its percentage rewards not issued yet are
    worked out from it (an issued reward keeps what was given; the follower stops reading once it is paid)."""
    if usable_total(total) is None:
        return  # a credit (negative) total gives no one a negative reward
    waiting = Reward.objects.select_for_update().filter(
        lead_id=lead_id, kind=RewardKind.PERCENT, status=RewardStatus.OPEN, percent__isnull=False
    )
    for reward in waiting:
        if reward.percent is None or reward.invoice_total == total:
            continue
        amount = percent_of(total, reward.percent)
        done = Reward.objects.filter(pk=reward.pk, status=RewardStatus.OPEN).update(
            amount=amount, invoice_total=total, problem=""
        )
        if done:
            was = f" (was {reward.amount:,.2f})" if reward.amount is not None else ""
            title = "Amount worked out" if reward.amount is None else "Amount follows the new invoice total"
            share = f"{reward.percent.normalize():f}% of the invoice total {total:,.2f}"
            detail = f"{share}: {amount:,.2f} {reward.currency}{was}"
            record(reward, at, "amount", title, detail, None)


def on_lead_admitted(lead: Lead) -> None:
    """A friend joined (entered the pipeline), asked `thanks_wanted` first: the referrer's thank-you, if the
    campaign gives one. No hold: it is not money, and the friend has joined whatever happens next."""
    with transaction.atomic():
        rule = active_rules(lead.campaign_id)[(Recipient.REFERRER, Trigger.JOINED)]
        if rule is not None:
            now = timezone.now()
            grant(rule, lead, now, now)


def thanks_wanted(lead: Lead) -> plain_sql.Exists | None:
    """`on_lead_admitted`'s question: whether the campaign has a referrer's joined rule with a kind at all
    (`active_rules` says whether it is on). Asked of every new lead; most campaigns give nothing for joining."""
    if not welcomes(lead):
        return None
    column = functools.partial(plain_sql.column, RewardRule)
    sql = (
        f"SELECT 1 FROM {plain_sql.table(RewardRule)} WHERE {column('campaign_id')} = %s "  # noqa: S608
        f"AND {column('recipient')} = %s AND {column('trigger')} = %s AND {column('kind')} <> %s"
    )
    return plain_sql.Exists(sql, [lead.campaign_id, Recipient.REFERRER, Trigger.JOINED, RewardKind.NONE])


def active_rules(campaign_id: int | None) -> dict[tuple[str, str], RewardRule | None]:
    """The campaign's rules that are on, by (recipient, trigger); None where a slot is off."""
    found: dict[tuple[str, str], RewardRule | None] = {
        (Recipient.REFERRER, Trigger.QUALIFIED): None,
        (Recipient.FRIEND, Trigger.QUALIFIED): None,
        (Recipient.REFERRER, Trigger.JOINED): None,
        (Recipient.REFERRER, Trigger.MILESTONE): None,
    }
    if campaign_id is None:
        return found
    for rule in RewardRule.objects.filter(campaign_id=campaign_id).exclude(kind=RewardKind.NONE):
        if rule.is_on and (rule.recipient, rule.trigger) in found:
            found[(rule.recipient, rule.trigger)] = rule
    return found


def hold_days(campaign_id: int) -> int:
    days = RewardProgram.objects.filter(campaign_id=campaign_id).values_list("hold_days", flat=True).first()
    return days or 0


def grant(rule: RewardRule, lead: Lead, at: datetime, due_at: datetime, milestone: int | None = None) -> None:
    """Earn `rule`'s reward through `lead`, once: or reopen the one the referral's unqualification canceled."""
    existing = Reward.objects.select_for_update().filter(lead=lead, recipient=rule.recipient, trigger=rule.trigger)
    if milestone is not None:
        existing = Reward.objects.select_for_update().filter(
            referrer_id=lead.referrer_id, trigger=Trigger.MILESTONE, milestone=milestone
        )
    found = existing.first()
    if found is not None:
        if found.status == RewardStatus.CANCELED and found.reopenable:
            reopen(found, lead, at, due_at)
        return
    terms = terms_of(rule, lead)
    reward = Reward(
        campaign_id=lead.campaign_id,
        rule=rule,
        lead=lead,
        referrer_id=lead.referrer_id,
        recipient=rule.recipient,
        trigger=rule.trigger,
        milestone=milestone,
        kind=rule.kind,
        amount=terms.amount,
        currency=rule.currency if rule.kind in (RewardKind.FIXED, RewardKind.PERCENT) else "",
        percent=rule.percent if rule.kind == RewardKind.PERCENT else None,
        invoice_total=terms.invoice_total,
        text=rule.text if rule.kind in (RewardKind.CODE, RewardKind.CUSTOM) else "",
        problem=terms.problem,
        created_at=at,
        due_at=due_at,
    )
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin loses here, the caller's change still commits
            reward.save()
    except IntegrityError:
        return
    pending = due_at > at
    detail = f"{reward.occasion} · {reward.summary}" + (f" · due {day(due_at)}" if pending else "")
    record(reward, at, "earned", "Earned" + (" (Pending: in the hold period)" if pending else " (Due)"), detail, None)
    whom = "the referrer" if reward.recipient == Recipient.REFERRER else "the friend"
    LeadEvent.objects.create(
        lead_id=lead.pk, at=at, kind="reward", title=f"Reward earned by {whom}", detail=detail[:500]
    )


def reopen(reward: Reward, lead: Lead, at: datetime, due_at: datetime) -> None:
    """The referral qualified again after its unqualification canceled this reward: Pending/Due again, with a new
    hold from now. A milestone bonus moves to the referral that reached the milestone this time."""
    changes: dict[str, object] = {
        "status": RewardStatus.OPEN,
        "canceled_at": None,
        "canceled_by": None,
        "cancel_reason": "",
        "reopenable": False,
        "due_at": due_at,
    }
    if reward.lead_id != lead.pk:
        changes["lead"] = lead
    try:
        with transaction.atomic():
            Reward.objects.filter(pk=reward.pk, status=RewardStatus.CANCELED).update(**changes)
    except IntegrityError:  # that referral holds a milestone bonus already
        return
    record(reward, at, "reopened", "Reopened: the referral qualified again", f"Due {day(due_at)}", None)


def terms_of(rule: RewardRule, lead: Lead) -> Terms:
    """The amount a rule gives for this lead. A percentage needs the qualifying job's invoice total: when none is
    known (qualified by hand before any invoice, a rule that needs none), the reward is earned without an amount
    and says so; the person who issues it enters the amount."""
    if rule.kind == RewardKind.FIXED:
        return Terms(rule.amount, None, "")
    if rule.kind != RewardKind.PERCENT or rule.percent is None:
        return Terms(None, None, "")
    total = invoice_total_of(lead)
    if total is None:
        problem = (
            f"No invoice total is known for this referral's job, so {rule.percent.normalize():f}% of it can't be "
            "worked out: enter the amount when you issue it."
        )
        return Terms(None, None, problem)
    return Terms(percent_of(total, rule.percent), total, "")


def percent_of(total: Decimal, percent: Decimal) -> Decimal:
    return (total * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def invoice_total_of(lead: Lead) -> Decimal | None:
    """The qualifying job's invoice total: as the rule saw it when it qualified the lead, else as last followed."""
    said = usable_total((lead.qualification_facts or {}).get("invoice_total"))
    if said is not None:
        return said
    return usable_total(Follow.objects.filter(lead_id=lead.pk).values_list("invoice_total", flat=True).first())


def usable_total(value: object) -> Decimal | None:
    """An invoice total a percentage can be taken of: a finite amount of zero or more; None otherwise."""
    if value in (None, ""):
        return None
    try:
        total = Decimal(str(value))
    except InvalidOperation:
        return None
    return total if total.is_finite() and total >= 0 else None


def record(reward: Reward, at: datetime, kind: str, title: str, detail: str, user: User | None) -> None:
    RewardEvent.objects.create(reward=reward, at=at, kind=kind, title=title, detail=detail[:600], user=user)


def day(at: datetime) -> str:
    """A date as the screens write it: "Mar 4, 2026"."""
    at = timezone.localtime(at)
    return f"{at:%b} {at.day}, {at.year}"
