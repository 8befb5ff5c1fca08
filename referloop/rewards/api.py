"""API v1 operations on rewards: list (filter by campaign, state, referrer), issue and cancel; always scoped to
the API key's account (another account's reward answers 404, exactly like one that does not exist).

No `from __future__ import annotations` here: ninja resolves a paginated operation's annotations at runtime
(see campaigns/api.py).
"""

from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.http import Http404
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from pydantic import ConfigDict

from referloop.accounts.http import ApiRequest
from referloop.accounts.models import ApiKey
from referloop.campaigns.api import ObjectId, Pages, Text, account_of
from referloop.rewards import actions, listing
from referloop.rewards.models import NOTE_LIMIT, REASON_LIMIT, Reward, RewardState

router = Router(tags=["rewards"])


def via_api(request: ApiRequest) -> str:
    """Who acted, for the audit: the API key's name and prefix (never the key)."""
    key = getattr(request, "auth", None)
    return f"through the API (key “{key.name}”, {key.prefix}…)" if isinstance(key, ApiKey) else "through the API"


class RewardOut(Schema):
    id: int
    campaign_id: int
    lead_id: int
    referrer_id: int = Field(description="The referrer credited with the lead (also on the friend's rewards).")
    recipient: str = Field(description="Who gets it: referrer or friend.")
    recipient_name: str
    recipient_email: str
    occasion: str = Field(description="qualified (the friend qualified), joined (a thank-you), milestone (a bonus).")
    milestone: int | None = Field(description="For a milestone bonus: the referrer's Nth qualified referral.")
    kind: str = Field(description="fixed, percent (of the qualifying job's invoice total), code, custom.")
    summary: str = Field(description="What it is, in words: 'USD 50.00', '10% of USD 480.00 = USD 48.00', a text.")
    amount: Decimal | None = Field(description="null for a code or a text, and for a percentage of an unknown total.")
    currency: str
    percent: Decimal | None
    invoice_total: Decimal | None
    code: str = Field(description="The code given from the pool when it was issued, or ''.")
    state: RewardState = Field(description="pending (in the hold period until due_at), due, issued, canceled.")
    problem: str = Field(description="Why it can't be issued as it is (send `amount` to issue it), or ''.")
    created_at: datetime
    due_at: datetime
    issued_at: datetime | None
    issued_by: str = Field(description="The email of who issued it, 'API' for an API key, or ''.")
    issue_note: str
    canceled_at: datetime | None
    canceled_by: str
    cancel_reason: str

    @staticmethod
    def resolve_recipient_name(reward: Reward) -> str:
        return reward.recipient_person.full_name

    @staticmethod
    def resolve_recipient_email(reward: Reward) -> str:
        return reward.recipient_person.email

    @staticmethod
    def resolve_occasion(reward: Reward) -> str:
        return reward.trigger

    @staticmethod
    def resolve_state(reward: Reward) -> str:
        return reward.state.value

    @staticmethod
    def resolve_issued_by(reward: Reward) -> str:
        return person(reward, reward.issued_at, reward.issued_by)

    @staticmethod
    def resolve_canceled_by(reward: Reward) -> str:
        return person(reward, reward.canceled_at, reward.canceled_by)


def person(reward: Reward, at: datetime | None, user: object) -> str:
    if at is None:
        return ""
    email = getattr(user, "email", "")
    return email or "API"


class RewardFilters(Schema):
    campaign_id: ObjectId | None = None
    state: RewardState | None = None
    referrer_id: ObjectId | None = None
    lead_id: ObjectId | None = None


class IssueIn(Schema):
    model_config = ConfigDict(extra="forbid")
    note: Text = Field("", max_length=NOTE_LIMIT, description="Optional, e.g. the gift card number.")
    amount: Decimal | None = Field(
        None,
        gt=0,
        max_digits=12,
        decimal_places=2,
        description="Only for a reward whose amount is not known (a percentage of an unknown invoice total).",
    )


class CancelIn(Schema):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=1, max_length=REASON_LIMIT, description="Why; kept on the reward and the lead.")


def account_rewards(request: ApiRequest) -> QuerySet[Reward]:
    return listing.rewards().filter(campaign__account=account_of(request))


def account_reward(request: ApiRequest, reward_id: int) -> Reward:
    reward = account_rewards(request).filter(pk=reward_id).first()
    if reward is None:
        raise Http404(f"No reward with id {reward_id} in this account.")
    return reward


@router.get("/rewards", response=list[RewardOut])
@paginate(Pages, page_size=50)
def list_rewards(request: ApiRequest, filters: Query[RewardFilters]) -> QuerySet[Reward]:
    """Rewards of the account, newest first."""
    found = account_rewards(request).order_by("-created_at", "-pk")
    if filters.campaign_id is not None:
        found = found.filter(campaign_id=filters.campaign_id)
    if filters.referrer_id is not None:
        found = found.filter(referrer_id=filters.referrer_id)
    if filters.lead_id is not None:
        found = found.filter(lead_id=filters.lead_id)
    if filters.state is not None:
        found = listing.in_state(found, filters.state.value)
    return found


@router.get("/rewards/{reward_id}", response=RewardOut)
def get_reward(request: ApiRequest, reward_id: int) -> Reward:
    return account_reward(request, reward_id)


@router.post("/rewards/{reward_id}/issue", response=RewardOut)
def issue_reward(request: ApiRequest, reward_id: int, payload: IssueIn) -> Reward:
    """Issue a Due reward. A code reward gets its code from the pool now (422 naming `code` if the pool is empty);
    a Pending, issued or canceled reward answers 422 naming `state`."""
    reward = account_reward(request, reward_id)
    actions.issue(reward, None, payload.note, payload.amount, via=via_api(request))
    return account_reward(request, reward_id)


@router.post("/rewards/{reward_id}/cancel", response=RewardOut)
def cancel_reward(request: ApiRequest, reward_id: int, payload: CancelIn) -> Reward:
    """Cancel a Pending or Due reward with a reason. An issued or canceled reward answers 422 naming `state`."""
    reward = account_reward(request, reward_id)
    actions.cancel(reward, None, payload.reason, via=via_api(request))
    return account_reward(request, reward_id)
