"""API v1 operations on campaigns, referrers and leads, always scoped to the API key's account.

No `from __future__ import annotations` here: ninja resolves a paginated operation's string annotations in
the namespace of its own `paginate` wrapper, where `Query[LeadFilters]` is unknown, and then answers 500.
"""

import functools
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.pagination import PageNumberPagination, paginate
from pydantic import AfterValidator, BeforeValidator, ConfigDict, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from referloop.accounts.http import ApiRequest
from referloop.accounts.models import Account
from referloop.campaigns import custom_fields, outcomes, verification
from referloop.campaigns.codes import normalize_code
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.lead_form import CUSTOM_PREFIX
from referloop.campaigns.models import Campaign, Lead, LeadSource, LeadStatus, Referrer
from referloop.campaigns.referrers import add_referrer
from referloop.rewards import listing as reward_listing
from referloop.runtime import plain_sql

router = Router()

MAX_ID = 2**63 - 1  # the largest id a database can hold; bigger numbers overflow SQLite's driver
MAX_PAGE = 1_000_000  # keeps the row offset inside the database's integer range (a bigger page is a 422)


class Pages(PageNumberPagination):
    """Page-number pagination, `?page=` from 1 to MAX_PAGE (ninja's own has no upper bound)."""

    class Input(Schema):
        page: int = Field(1, ge=1, le=MAX_PAGE)
        page_size: int | None = Field(None, ge=1)


def storable_text(value: str) -> str:
    """Refuse text no database column can hold: NUL characters (PostgreSQL) and lone surrogates (UTF-8)."""
    if "\x00" in value:
        raise ValueError("Null characters are not allowed.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("Text must be valid Unicode (no lone surrogate escapes such as \\ud800).") from None
    return value


def scalar_answer(value: Any) -> Any:
    """A custom field answer is one value: objects and lists get one clear error, not one per union branch."""
    if isinstance(value, dict | list):
        raise ValueError("Give one text, number or true/false value.")
    return storable_text(value) if isinstance(value, str) else value


ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_datetime_text(value: Any) -> Any:
    """Only ISO 8601 text is a date-time here: pydantic alone also reads "-153" as seconds since 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_DATE_START.match(value.strip()):
        raise ValueError("Give an ISO 8601 datetime, such as 2025-01-31T09:00:00Z or 2025-01-31.")
    return value.strip()


def utc_datetime(value: datetime) -> datetime:
    """A time without an offset ("2025-01-31") is read as UTC; one outside years 1-9999 in UTC is refused."""
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("The date is out of range.") from None


class NoNulInDocument:
    """Says in the OpenAPI document what `storable_text` refuses: text with a NUL character. (A `pattern` applies
    to strings only, so it also fits a union with numbers.) Lone surrogates cannot be said in a pattern."""

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["pattern"] = r"^[^\x00]*$"
        return schema


Text = Annotated[str, AfterValidator(storable_text), NoNulInDocument()]
Answer = Annotated[str | int | float | bool | None, BeforeValidator(scalar_answer), NoNulInDocument()]
ObjectId = Annotated[int, Field(ge=1, le=MAX_ID)]  # an id in a filter or a body: never past the databases' range
UtcDatetime = Annotated[datetime, BeforeValidator(iso_datetime_text), AfterValidator(utc_datetime)]


class CampaignOut(Schema):
    id: int
    name: str
    slug: str
    status: str
    offer_text: str
    reward_description: str
    join_url: str
    created_at: datetime


class ReferrerIn(Schema):
    model_config = ConfigDict(extra="forbid")

    campaign_id: ObjectId
    first_name: Text
    last_name: Text = ""
    email: Text
    phone: Text = ""


class RewardAmountsOut(Schema):
    currency: str
    pending: Decimal
    due: Decimal
    issued: Decimal


class ReferrerRewardsOut(Schema):
    pending: int = Field(description="Rewards in their hold period.")
    due: int
    issued: int
    canceled: int
    amounts: list[RewardAmountsOut] = Field(
        description="Amounts per currency (pending, due, issued); codes and custom rewards have none."
    )


class ReferrerOut(Schema):
    id: int
    campaign_id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    code: str
    referral_url: str
    created_at: datetime
    lead_count: int = Field(description="Leads credited to this referrer.")
    qualified_count: int = Field(description="Of those, leads qualified (rewarded included).")
    rewards: ReferrerRewardsOut = Field(description="The rewards this referrer earned, by state.")

    @staticmethod
    def resolve_rewards(referrer: Referrer) -> dict[str, Any]:
        summary = reward_listing.summary_of(referrer)
        return {**summary.counts, "amounts": [vars(total) for total in summary.amounts]}


class LeadIn(Schema):
    model_config = ConfigDict(extra="forbid")

    campaign_id: ObjectId
    referrer_code: Text | None = Field(None, description="The referrer's code; or give referrer_id.")
    referrer_id: ObjectId | None = None
    first_name: Text
    last_name: Text = ""
    email: Text
    phone: Text = ""
    street: Text = ""
    city: Text = ""
    state: Text = ""
    zip_code: Text = ""
    notes: Text = ""
    custom_fields: dict[Text, Answer] = Field(
        default_factory=dict, description="Answers to the campaign's own fields, by field key."
    )


class LeadOut(Schema):
    id: int
    campaign_id: int
    referrer_id: int
    referrer_code: str
    first_name: str
    last_name: str
    email: str
    phone: str
    street: str
    city: str
    state: str
    zip_code: str
    notes: str
    custom_fields: dict[str, Any]
    code: str
    status: str
    source: str
    status_reason: str = Field(description="Why the lead is Not qualified, or the reason given for a change by hand.")
    stage: str = Field(
        description="Where the friend got in ServiceTitan: '' (not booked), booked, job, completed, paid, dismissed, "
        "canceled."
    )
    qualified_at: datetime | None = Field(description="When the lead first qualified; set once, never moved.")
    qualified_by_rule: str = Field(
        description="The rule that qualified it (job, job_status, invoice_paid), by_hand, or '' if never qualified."
    )
    job_number: str = Field(description="The ServiceTitan job number its booking became, or ''.")
    servicetitan_customer_id: int | None = Field(
        description="The ServiceTitan customer the friend already was when the booking was sent (Is First Time "
        "Client: From ServiceTitan), or null: not a known customer, or not looked up."
    )
    email_verification: str = Field(
        description="not_asked, unverified (waiting for the friend to click the emailed link), verified, or expired "
        "(not confirmed within 7 days; never sent to your integrations)."
    )
    created_at: datetime

    @staticmethod
    def resolve_referrer_code(lead: Lead) -> str:
        return lead.referrer.code

    @staticmethod
    def resolve_job_number(lead: Lead) -> str:
        follow = getattr(lead, "follow", None)  # the related Follow, or None when the lead was never booked
        return follow.job_number if follow is not None else ""

    @staticmethod
    def resolve_email_verification(lead: Lead) -> str:
        return verification.state(lead).value

    @staticmethod
    def resolve_custom_fields(lead: Lead) -> dict[str, Any]:
        return lead.custom_data


class ReferrerFilters(Schema):
    campaign_id: ObjectId | None = None
    email: Text | None = None
    code: Text | None = None


class LeadFilters(Schema):
    campaign_id: ObjectId | None = None
    email: Text | None = None
    status: LeadStatus | None = None
    created_since: UtcDatetime | None = None


def account_of(request: ApiRequest) -> Account:
    return request.account


def account_campaign(request: ApiRequest, campaign_id: int, field: str = "campaign_id") -> Campaign:
    # Plain SQL: every lead posted to the API asks (the ORM's query cost ~0.3 ms of a ~3 ms request).
    column = functools.partial(plain_sql.column, Campaign)
    found = plain_sql.instances(
        Campaign, f"{column('id')} = %s AND {column('account_id')} = %s", [campaign_id, account_of(request).pk], limit=1
    )
    campaign = found[0] if found else None
    if campaign is None:
        raise InputRejected({field: [f"No campaign with id {campaign_id} in this account."]})
    return campaign


@router.get("/campaigns", response=list[CampaignOut], tags=["campaigns"])
@paginate(Pages, page_size=50)
def list_campaigns(request: ApiRequest) -> QuerySet[Campaign]:
    return Campaign.objects.filter(account=account_of(request)).order_by("-created_at", "-pk")


@router.get("/campaigns/{campaign_id}", response=CampaignOut, tags=["campaigns"])
def get_campaign(request: ApiRequest, campaign_id: int) -> Campaign:
    campaign = Campaign.objects.filter(pk=campaign_id, account=account_of(request)).first()
    if campaign is None:
        raise Http404(f"No campaign with id {campaign_id} in this account.")
    return campaign


@router.post("/referrers", response={200: ReferrerOut, 201: ReferrerOut}, tags=["referrers"])
def create_referrer(request: ApiRequest, payload: ReferrerIn) -> tuple[int, Referrer]:
    """Create a referrer (201), or return the campaign's referrer with this email (200)."""
    campaign = account_campaign(request, payload.campaign_id)
    try:
        referrer, created = add_referrer(campaign, payload.dict(exclude={"campaign_id"}), source=LeadSource.API)
    except InputRejected as rejected:
        raise InputRejected({api_field_name(field): problems for field, problems in rejected.errors.items()}) from None
    return (201 if created else 200), reward_listing.with_summaries(Referrer.objects.filter(pk=referrer.pk)).get()


def account_referrers(request: ApiRequest) -> QuerySet[Referrer]:
    """The account's referrers with their lead counts and rewards, in a fixed number of queries per page."""
    return reward_listing.with_summaries(Referrer.objects.filter(campaign__account=account_of(request)))


@router.get("/referrers", response=list[ReferrerOut], tags=["referrers"])
@paginate(Pages, page_size=50)
def list_referrers(request: ApiRequest, filters: Query[ReferrerFilters]) -> QuerySet[Referrer]:
    referrers = account_referrers(request).order_by("-created_at", "-pk")
    if filters.campaign_id is not None:
        referrers = referrers.filter(campaign_id=filters.campaign_id)
    if filters.email:
        referrers = referrers.filter(email__lower=filters.email.strip().lower())
    if filters.code:
        referrers = referrers.filter(code=normalize_code(filters.code))
    return referrers


@router.get("/referrers/{referrer_id}", response=ReferrerOut, tags=["referrers"])
def get_referrer(request: ApiRequest, referrer_id: int) -> Referrer:
    referrer = account_referrers(request).filter(pk=referrer_id).first()
    if referrer is None:
        raise Http404(f"No referrer with id {referrer_id} in this account.")
    return referrer


@router.post("/leads", response={200: LeadOut, 201: LeadOut}, tags=["leads"])
@custom_fields.read_once()  # the unknown-field check and the intake share one read
def create_lead(request: ApiRequest, payload: LeadIn) -> tuple[int, Lead]:
    """Create a lead (201). When the email is already a lead in the campaign, return that lead (200) unchanged."""
    campaign = account_campaign(request, payload.campaign_id)
    referrer = find_referrer(campaign, payload)
    data: dict[str, Any] = payload.dict(exclude={"campaign_id", "referrer_code", "referrer_id", "custom_fields"})
    known = {field.key for field in custom_fields.of_campaign(campaign.pk)}
    unknown = sorted(set(payload.custom_fields) - known)
    if unknown:
        choices = ", ".join(sorted(known)) or "none"
        raise InputRejected(
            {f"custom_fields.{key}": [f"Unknown field. This campaign's fields are: {choices}."] for key in unknown}
        )
    for key, value in payload.custom_fields.items():
        if value is not None:
            data[CUSTOM_PREFIX + key] = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        result = submit_lead(campaign, referrer, data, source=LeadSource.API)
    except InputRejected as rejected:
        raise InputRejected({api_field_name(field): problems for field, problems in rejected.errors.items()}) from None
    if result.created:  # a lead made now has no booking followed yet: its job number needs no query
        Lead.follow.related.set_cached_value(result.lead, None)
    return (201 if result.created else 200), result.lead


def find_referrer(campaign: Campaign, payload: LeadIn) -> Referrer:
    if payload.referrer_id is not None:
        referrer = _campaign_referrer(campaign, "id", payload.referrer_id)
        if referrer is None:
            raise InputRejected({"referrer_id": [f"No referrer with id {payload.referrer_id} in this campaign."]})
        return referrer
    if payload.referrer_code:
        referrer = _campaign_referrer(campaign, "code", normalize_code(payload.referrer_code))
        if referrer is None:
            raise InputRejected(
                {"referrer_code": [f"No referrer with code {payload.referrer_code!r} in this campaign."]}
            )
        return referrer
    raise InputRejected({"referrer_code": ["Give referrer_code or referrer_id: every lead needs a referrer."]})


def _campaign_referrer(campaign: Campaign, by: str, value: object) -> Referrer | None:
    """The campaign's referrer with this id or code, by plain SQL (every lead posted to the API asks)."""
    column = functools.partial(plain_sql.column, Referrer)
    where = f"{column('campaign_id')} = %s AND {column(by)} = %s"
    found = plain_sql.instances(Referrer, where, [campaign.pk, value], limit=1)
    if not found:
        return None
    found[0].campaign = campaign
    return found[0]


API_FIELD_NAMES = {"__all__": "body", "campaign": "campaign_id", "referrer": "referrer_id"}


def api_field_name(form_field: str) -> str:
    """The request field a service's error is about (`custom_system_type` → `custom_fields.system_type`)."""
    if form_field.startswith(CUSTOM_PREFIX):
        return "custom_fields." + form_field.removeprefix(CUSTOM_PREFIX)
    return API_FIELD_NAMES.get(form_field, form_field)


@router.get("/leads", response=list[LeadOut], tags=["leads"])
@paginate(Pages, page_size=50)
def list_leads(request: ApiRequest, filters: Query[LeadFilters]) -> QuerySet[Lead]:
    leads = (
        Lead.objects.filter(campaign__account=account_of(request))
        .select_related("referrer", "follow")
        .order_by("-created_at", "-pk")
    )
    if filters.campaign_id is not None:
        leads = leads.filter(campaign_id=filters.campaign_id)
    if filters.email:
        leads = leads.filter(email__lower=filters.email.strip().lower())
    if filters.status:
        leads = leads.filter(status=filters.status)
    if filters.created_since:
        leads = leads.filter(created_at__gte=filters.created_since)
    return leads


@router.get("/leads/{lead_id}", response=LeadOut, tags=["leads"])
def get_lead(request: ApiRequest, lead_id: int) -> Lead:
    return account_lead(request, lead_id)


def account_lead(request: ApiRequest, lead_id: int) -> Lead:
    lead = (
        Lead.objects.select_related("referrer", "follow")
        .filter(pk=lead_id, campaign__account=account_of(request))
        .first()
    )
    if lead is None:
        raise Http404(f"No lead with id {lead_id} in this account.")
    return lead


class OutcomeIn(Schema):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(description="Why; kept on the lead's timeline.")


@router.post("/leads/{lead_id}/qualify", response=LeadOut, tags=["leads"])
def qualify_lead(request: ApiRequest, lead_id: int, payload: OutcomeIn) -> Lead:
    """Qualify the lead by hand (its referrer earns the reward). A lead already qualified answers 422."""
    lead = account_lead(request, lead_id)
    outcomes.qualify_by_hand(lead, None, payload.reason)
    return account_lead(request, lead_id)


@router.post("/leads/{lead_id}/unqualify", response=LeadOut, tags=["leads"])
def unqualify_lead(request: ApiRequest, lead_id: int, payload: OutcomeIn) -> Lead:
    """Mark the lead Not qualified by hand. A lead already not qualified answers 422."""
    lead = account_lead(request, lead_id)
    outcomes.unqualify_by_hand(lead, None, payload.reason)
    return account_lead(request, lead_id)
