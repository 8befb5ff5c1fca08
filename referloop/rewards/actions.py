"""A person (or an API key) issues or cancels rewards: one at a time, or many, each in its own transaction.

Each change locks the reward's row, checks its state under the lock and writes the change, its audit event and
(for a code reward) the code it takes, together. Two people pressing Issue at once issue it once; the second is
told it was issued already. `on_reward_issued` hooks (the referrer's email) run in that same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from referloop.accounts.models import User
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.models import Campaign, Lead, LeadEvent, LeadStatus
from referloop.rewards import codes
from referloop.rewards.earning import day, record
from referloop.rewards.models import (
    NOTE_LIMIT,
    REASON_LIMIT,
    Recipient,
    Reward,
    RewardKind,
    RewardState,
    RewardStatus,
    Trigger,
    money,
    state_at,
)

IssuedHook = Callable[[Reward], object]
_issued_hooks: list[IssuedHook] = []
BULK_LIMIT = 200  # rewards in one bulk action (a page holds 50)
AMOUNT_LIMIT = Decimal("9999999999.99")


def on_reward_issued(hook: IssuedHook) -> IssuedHook:
    """Run `hook(reward)` whenever a reward is issued, inside the transaction that issues it (an exception rolls
    the issue back). The reward passed is fresh from the database, with its code if it has one."""
    if hook not in _issued_hooks:
        _issued_hooks.append(hook)
    return hook


def issue(reward: Reward, by: User | None, note: str = "", amount: object = None, via: str = "") -> Reward:
    """Issue a Due reward, with an optional note (a gift card number). A code reward takes its code from the pool
    now; a reward without a known amount needs `amount`. Raises InputRejected naming the field otherwise."""
    note = clean_text(note, "note", NOTE_LIMIT, required=False)
    given = clean_amount(amount)
    with transaction.atomic():
        locked = Reward.objects.select_for_update().get(pk=reward.pk)
        now = timezone.now()
        refuse_unless_due(locked, now)
        changes: dict[str, object] = {
            "status": RewardStatus.ISSUED,
            "issued_at": now,
            "issued_by": by,
            "issue_note": note,
        }
        if locked.is_money and locked.amount is None:
            if given is None:
                raise InputRejected({"amount": [locked.problem or "Enter the amount of this reward."]})
            changes.update(amount=given, problem="")
        elif given is not None:
            raise InputRejected({"amount": ["This reward's amount is known already: leave the amount out."]})
        code = codes.take(locked) if locked.kind == RewardKind.CODE else None
        Reward.objects.filter(pk=locked.pk, status=RewardStatus.OPEN).update(**changes)
        issued = Reward.objects.select_related("pool_code", "lead", "referrer", "campaign").get(pk=locked.pk)
        detail = "; ".join(
            part
            for part in (issued.summary, f"code {code.code}" if code else "", f"note: {note}" if note else "", via)
            if part
        )
        record(issued, now, "issued", "Issued", detail, by)
        LeadEvent.objects.create(
            lead_id=issued.lead_id,
            at=now,
            kind="reward",
            title=f"Reward issued to the {issued.get_recipient_display().lower()}",
            detail=detail[:500],
            user=by,
        )
        if issued.recipient == Recipient.REFERRER and issued.trigger == Trigger.QUALIFIED:
            Lead.objects.filter(pk=issued.lead_id, status=LeadStatus.QUALIFIED).update(status=LeadStatus.REWARDED)
        for hook in _issued_hooks:
            hook(issued)
    return issued


def cancel(reward: Reward, by: User | None, reason: str, via: str = "") -> Reward:
    """Cancel a Pending or Due reward, saying why (kept on the reward and the lead's timeline)."""
    reason = clean_text(reason, "reason", REASON_LIMIT, required=True)
    with transaction.atomic():
        locked = Reward.objects.select_for_update().get(pk=reward.pk)
        now = timezone.now()
        if locked.status == RewardStatus.ISSUED:
            raise InputRejected(
                {"state": [f"This reward was issued on {day(locked.issued_at or now)}: it can't be canceled."]}
            )
        if locked.status == RewardStatus.CANCELED:
            raise InputRejected({"state": ["This reward is canceled already."]})
        Reward.objects.filter(pk=locked.pk, status=RewardStatus.OPEN).update(
            status=RewardStatus.CANCELED, canceled_at=now, canceled_by=by, cancel_reason=reason, reopenable=False
        )
        detail = "; ".join(part for part in (reason, via) if part)
        record(locked, now, "canceled", "Canceled", detail, by)
        LeadEvent.objects.create(
            lead_id=locked.lead_id,
            at=now,
            kind="reward",
            title=f"Reward of the {locked.get_recipient_display().lower()} canceled",
            detail=detail[:500],
            user=by,
        )
    return Reward.objects.select_related("pool_code").get(pk=locked.pk)


def refuse_unless_due(reward: Reward, now: datetime) -> None:
    state = state_at(reward.status, reward.due_at, now)
    if state is RewardState.CANCELED:
        raise InputRejected(
            {
                "state": [
                    f"This reward was canceled on {day(reward.canceled_at or now)} "
                    f"({reward.cancel_reason}): a canceled reward can't be issued."
                ]
            }
        )
    if state is RewardState.ISSUED:
        issued_on = day(reward.issued_at or now)
        raise InputRejected({"state": [f"This reward was issued already, on {issued_on}."]})
    if state is RewardState.PENDING:
        raise InputRejected(
            {"state": [f"This reward is in its hold period until {day(reward.due_at)}: it can be issued then."]}
        )


@dataclass
class BulkResult:
    done: list[Reward] = field(default_factory=list)
    refused: list[tuple[Reward, str]] = field(default_factory=list)


def issue_many(campaign: Campaign, ids: Iterable[int], by: User | None, note: str) -> BulkResult:
    """Issue each chosen reward of the campaign in its own transaction: one that can't be issued (an empty code
    pool, an unknown amount) is reported and the others are issued."""
    clean_text(note, "note", NOTE_LIMIT, required=False)
    return _each(campaign, ids, lambda reward: issue(reward, by, note))


def cancel_many(campaign: Campaign, ids: Iterable[int], by: User | None, reason: str) -> BulkResult:
    clean_text(reason, "reason", REASON_LIMIT, required=True)
    return _each(campaign, ids, lambda reward: cancel(reward, by, reason))


def _each(campaign: Campaign, ids: Iterable[int], change: Callable[[Reward], Reward]) -> BulkResult:
    wanted = sorted(set(ids))
    if len(wanted) > BULK_LIMIT:  # refused whole: doing the first 200 would leave the rest silently undone
        raise InputRejected({"reward": [f"Choose at most {BULK_LIMIT} rewards at a time; nothing was changed."]})
    if not wanted:
        raise InputRejected({"reward": ["Choose at least one reward of this campaign."]})
    result = BulkResult()
    rewards = Reward.objects.filter(campaign=campaign, pk__in=wanted).select_related("referrer", "lead")
    if not rewards.exists():
        raise InputRejected({"reward": ["Choose at least one reward of this campaign."]})
    for reward in rewards.order_by("pk"):
        try:
            result.done.append(change(reward))
        except InputRejected as rejected:
            problems = " ".join(problem for found in rejected.errors.values() for problem in found)
            result.refused.append((reward, problems))
    return result


def clean_text(value: object, name: str, limit: int, required: bool) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if "\x00" in text:
        raise InputRejected({name: ["Null characters are not allowed."]})
    if required and not text:
        raise InputRejected({name: ["Say why: the reason is kept on the reward and the lead's timeline."]})
    if len(text) > limit:
        raise InputRejected({name: [f"Keep the {name} under {limit} characters."]})
    return text


def clean_amount(value: object) -> Decimal | None:
    """An amount typed by a person or sent through the API: a positive number with at most two decimals."""
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InputRejected({"amount": ["Enter the amount as a number, such as 48.00."]}) from None
    if not amount.is_finite() or amount <= 0 or amount > AMOUNT_LIMIT:
        raise InputRejected({"amount": ["Enter an amount greater than 0."]})
    if amount != amount.quantize(Decimal("0.01")):
        raise InputRejected({"amount": ["Use at most two decimal places."]})
    return amount


def describe(reward: Reward) -> str:
    """One line for messages: "#12 Maria Lopez: USD 50.00"."""
    person = reward.recipient_person
    return f"#{reward.pk} {person.full_name}: {reward.summary or money(reward.amount, reward.currency)}"
