"""Account isolation: a user or API key of account A never sees or changes a row of account B.

Every signed-in view that takes an object id answers 404 for B's objects (also when the URL mixes A's campaign
with B's child object), a POST changes nothing of B, and lists never show B's rows. Every API operation answers
B's ids exactly as it answers ids that do not exist, and list filters pointing at B return nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import escape

from referloop.accounts.middleware import SESSION_KEY
from referloop.accounts.models import ApiKey
from referloop.campaigns.models import Campaign, CampaignStatus, CustomField, ImportJob, Lead, Referrer
from tests.conftest import Tenant


@dataclass(frozen=True)
class Objects:
    """One account's objects that signed-in URLs and API paths point at."""

    campaign: Campaign
    referrer: Referrer
    lead: Lead
    field: CustomField
    job: ImportJob
    key: ApiKey


def objects_of(tenant: Tenant) -> Objects:
    job = ImportJob.objects.create(
        campaign=tenant.campaign,
        kind="leads",
        filename=f"{tenant.campaign.slug}-leads.csv",
        content=f"first_name,email,referrer_code\nPat,pat@{tenant.campaign.slug}.example,{tenant.referrer.code}\n",
        total_rows=1,
    )
    return Objects(
        campaign=tenant.campaign,
        referrer=tenant.referrer,
        lead=tenant.lead,
        field=CustomField.objects.get(campaign=tenant.campaign, key="system_type"),
        job=job,
        key=ApiKey.objects.get(account=tenant.account),
    )


@pytest.fixture
def own(tenant: Tenant) -> Objects:
    return objects_of(tenant)


@pytest.fixture
def foreign(other_tenant: Tenant) -> Objects:
    return objects_of(other_tenant)


def snapshot(objects: Objects) -> dict[str, Any]:
    """Everything of an account a stray POST could change."""
    campaign = Campaign.objects.get(pk=objects.campaign.pk)
    job = ImportJob.objects.get(pk=objects.job.pk)
    return {
        "campaign": (campaign.name, campaign.slug, campaign.status, campaign.offer_text, campaign.reward_description),
        "fields": sorted(CustomField.objects.filter(campaign=campaign).values_list("key", flat=True)),
        "referrers": sorted(Referrer.objects.filter(campaign=campaign).values_list("email", flat=True)),
        "leads": sorted(Lead.objects.filter(campaign=campaign).values_list("email", flat=True)),
        "job": (job.processed_rows, job.created_count, job.finished_at),
        "key_revoked_at": ApiKey.objects.get(pk=objects.key.pk).revoked_at,
    }


# ---------------------------------------------------------------------------------------------------------------
# Signed-in views
# ---------------------------------------------------------------------------------------------------------------

Url = Callable[[Objects, Objects], str]  # (the user's own objects, the objects the URL points at) -> path
PostData = Callable[[Objects], dict[str, Any]]


def url(name: str, *parts: Callable[[Objects, Objects], object]) -> Url:
    return lambda own, target: reverse(name, args=[part(own, target) for part in parts])


def target_campaign(own: Objects, target: Objects) -> object:
    return target.campaign.pk


def own_campaign(own: Objects, target: Objects) -> object:
    return own.campaign.pk


def target_attr(name: str) -> Callable[[Objects, Objects], object]:
    return lambda own, target: getattr(target, name).pk


def literal(value: str) -> Callable[[Objects, Objects], object]:
    return lambda own, target: value


def csv_upload(objects: Objects) -> dict[str, Any]:
    content = f"first_name,email,referrer_code\nHal,hal@x.example,{objects.referrer.code}\n".encode()
    return {"kind": "leads", "file": SimpleUploadedFile("hijack.csv", content, content_type="text/csv")}


@dataclass(frozen=True)
class ViewCase:
    id: str
    url: Url
    get: bool  # False for POST-only views (a GET is refused with 405 before any lookup)
    post: PostData | None


NO_DATA: PostData = lambda objects: {}  # noqa: E731
SETTINGS_DATA: dict[str, PostData] = {
    "general": lambda objects: {"name": "Hijacked", "slug": "hijacked"},
    "referral-page": lambda objects: {"offer_text": "Hijacked", "page_intro": "", "thank_you_text": "Hijacked"},
    "rewards": lambda objects: {"reward_description": "Hijacked"},
    "integrations": NO_DATA,
}

VIEW_CASES: list[ViewCase] = [
    ViewCase("campaign-detail", url("campaign_detail", target_campaign), True, None),
    ViewCase("campaign-archive", url("campaign_archive", target_campaign), False, NO_DATA),
    ViewCase(
        "campaign-settings-default",
        url("campaign_settings_default", target_campaign),
        True,
        SETTINGS_DATA["general"],
    ),
    *[
        ViewCase(f"campaign-settings-{tab}", url("campaign_settings", target_campaign, literal(tab)), True, data)
        for tab, data in SETTINGS_DATA.items()
    ],
    ViewCase(
        "custom-field-add",
        url("custom_field_add", target_campaign),
        False,
        lambda objects: {"label": "Hijacked", "key": "hijacked", "field_type": "text"},
    ),
    ViewCase(
        "custom-field-delete", url("custom_field_delete", target_campaign, target_attr("field")), False, NO_DATA
    ),
    ViewCase(
        "custom-field-delete-under-own-campaign",
        url("custom_field_delete", own_campaign, target_attr("field")),
        False,
        NO_DATA,
    ),
    ViewCase("referrer-list", url("referrer_list", target_campaign), True, None),
    ViewCase(
        "referrer-add",
        url("referrer_add", target_campaign),
        True,
        lambda objects: {"first_name": "Hal", "email": "hal@x.example"},
    ),
    ViewCase("referrer-detail", url("referrer_detail", target_campaign, target_attr("referrer")), True, None),
    ViewCase(
        "referrer-detail-under-own-campaign",
        url("referrer_detail", own_campaign, target_attr("referrer")),
        True,
        None,
    ),
    ViewCase("lead-list", url("lead_list", target_campaign), True, None),
    ViewCase(
        "lead-add",
        url("lead_add", target_campaign),
        True,
        lambda objects: {"first_name": "Hal", "email": "hal@x.example", "referrer": objects.referrer.pk},
    ),
    ViewCase("lead-detail", url("lead_detail", target_campaign, target_attr("lead")), True, None),
    ViewCase(
        "lead-detail-under-own-campaign", url("lead_detail", own_campaign, target_attr("lead")), True, None
    ),
    ViewCase("csv-import-leads", url("csv_import", target_campaign, literal("leads")), True, csv_upload),
    ViewCase("csv-import-referrers", url("csv_import", target_campaign, literal("referrers")), True, csv_upload),
    ViewCase(
        "csv-import-progress", url("csv_import_progress", target_campaign, target_attr("job")), True, NO_DATA
    ),
    ViewCase(
        "csv-import-progress-under-own-campaign",
        url("csv_import_progress", own_campaign, target_attr("job")),
        True,
        NO_DATA,
    ),
    ViewCase("api-key-revoke", url("revoke_api_key", target_attr("key")), False, NO_DATA),
]

GET_CASES = [pytest.param(case, id=case.id) for case in VIEW_CASES if case.get]
POST_CASES = [pytest.param(case, id=case.id) for case in VIEW_CASES if case.post is not None]


@pytest.mark.parametrize("case", GET_CASES)
def test_a_signed_in_view_is_404_for_another_accounts_object(
    tenant: Tenant, own: Objects, foreign: Objects, case: ViewCase
) -> None:
    response = tenant.client.get(case.url(own, foreign))

    assert response.status_code == 404


@pytest.mark.parametrize("case", POST_CASES)
def test_a_post_to_another_accounts_object_is_404_and_changes_nothing_of_it(
    tenant: Tenant, own: Objects, foreign: Objects, case: ViewCase
) -> None:
    assert case.post is not None
    before = snapshot(foreign)

    response = tenant.client.post(case.url(own, foreign), case.post(foreign))

    assert response.status_code == 404
    assert snapshot(foreign) == before


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in VIEW_CASES])
def test_the_same_view_works_for_the_accounts_own_object(tenant: Tenant, own: Objects, case: ViewCase) -> None:
    """The control for the two tests above: the URLs are right, so their 404s come from the account check."""
    response = (
        tenant.client.get(case.url(own, own))
        if case.get
        else tenant.client.post(case.url(own, own), case.post(own) if case.post else {})
    )

    assert response.status_code in {200, 302}, (case.id, response.status_code)


def page_text(response: HttpResponse) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.parametrize(
    ("view", "params", "own_text", "foreign_text"),
    [
        ("campaign_list", {}, lambda o: o.campaign.name, lambda f: f.campaign.name),
        ("campaign_list", {"show": "archived"}, lambda o: "Old promo", lambda f: "Rival old promo"),
        ("api_keys", {}, lambda o: o.key.prefix, lambda f: f.key.prefix),
        ("members", {}, lambda o: "owner@comfortpro.example", lambda f: "owner@rival.example"),
    ],
    ids=["campaigns", "archived-campaigns", "api-keys", "members"],
)
def test_account_wide_lists_never_show_another_accounts_rows(
    tenant: Tenant,
    own: Objects,
    foreign: Objects,
    view: str,
    params: dict[str, str],
    own_text: Callable[[Objects], str],
    foreign_text: Callable[[Objects], str],
) -> None:
    Campaign.objects.create(account=own.campaign.account, name="Old promo", slug="old", status=CampaignStatus.ARCHIVED)
    Campaign.objects.create(
        account=foreign.campaign.account, name="Rival old promo", slug="rival-old", status=CampaignStatus.ARCHIVED
    )

    text = page_text(tenant.client.get(reverse(view), params))

    assert own_text(own) in text
    assert foreign_text(foreign) not in text


OwnValue = Callable[[Objects], str] | None  # a value of the account's own that the page must show, if any


@pytest.mark.parametrize(
    ("view", "params", "own_value"),
    [
        ("referrer_list", {}, lambda o: o.referrer.email),
        ("referrer_list", {"q": "maria"}, lambda o: o.referrer.email),
        ("referrer_list", {"q": "{referrer_email}"}, None),
        ("referrer_list", {"q": "{referrer_code}"}, None),
        ("lead_list", {}, lambda o: o.lead.email),
        ("lead_list", {"q": "{lead_email}"}, None),
        ("lead_list", {"status": "pending", "q": "tom"}, lambda o: o.lead.email),
        ("lead_add", {}, lambda o: o.referrer.email),
        ("campaign_detail", {}, lambda o: o.lead.email),
        ("csv_import", {}, lambda o: o.job.filename),
    ],
    ids=[
        "referrers", "referrers-by-name", "referrers-by-foreign-email", "referrers-by-foreign-code", "leads",
        "leads-by-foreign-email", "leads-by-status-and-name", "lead-add-referrer-choices", "campaign-recent-leads",
        "csv-import-recent-imports",
    ],
)
def test_campaign_pages_never_show_another_accounts_rows_even_when_searched_for(
    tenant: Tenant, own: Objects, foreign: Objects, view: str, params: dict[str, str], own_value: OwnValue
) -> None:
    values = {
        "referrer_email": foreign.referrer.email,
        "referrer_code": foreign.referrer.code,
        "lead_email": foreign.lead.email,
    }
    query = {key: value.format(**values) for key, value in params.items()}
    args = [own.campaign.pk, "leads"] if view == "csv_import" else [own.campaign.pk]

    text = without_echo(page_text(tenant.client.get(reverse(view, args=args), query)), query)

    for foreign_value in (foreign.referrer.email, foreign.referrer.code, foreign.lead.email, foreign.job.filename):
        assert foreign_value not in text
    if own_value is not None:
        assert own_value(own) in text  # the page does list rows, so the check above is not vacuous


def without_echo(text: str, query: dict[str, str]) -> str:
    """The page without the search terms it repeats back (the search box, "No referrers match “…”")."""
    for value in query.values():
        text = text.replace(f'value="{escape(value)}"', "").replace(f"“{escape(value)}”", "")
    return text


def test_a_lead_added_by_hand_cannot_be_credited_to_another_accounts_referrer(
    tenant: Tenant, own: Objects, foreign: Objects
) -> None:
    leads_before = Lead.objects.count()

    response = tenant.client.post(
        reverse("lead_add", args=[own.campaign.pk]),
        {"first_name": "Hal", "email": "hal@x.example", "referrer": foreign.referrer.pk},
    )

    assert response.status_code == 200
    assert "Choose the referrer" in response.content.decode()
    assert Lead.objects.count() == leads_before


def test_switching_to_an_account_the_user_is_not_a_member_of_is_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    response = tenant.client.post(reverse("switch_account"), {"account_id": other_tenant.account.pk})

    assert response.status_code == 404
    assert tenant.client.session.get(SESSION_KEY) != other_tenant.account.pk
    assert page_text(tenant.client.get(reverse("campaign_list"))).count(other_tenant.campaign.name) == 0


def test_a_session_pointing_at_a_foreign_account_falls_back_to_the_users_own(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    session = tenant.client.session
    session[SESSION_KEY] = other_tenant.account.pk
    session.save()

    text = page_text(tenant.client.get(reverse("campaign_list")))

    assert tenant.campaign.name in text
    assert other_tenant.campaign.name not in text
    assert tenant.client.get(reverse("campaign_detail", args=[other_tenant.campaign.pk])).status_code == 404


# ---------------------------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------------------------

MISSING_ID = 987_654_321


def api_get(tenant: Tenant, path: str, params: dict[str, Any] | None = None) -> HttpResponse:
    return tenant.client.get(f"/api/v1{path}", params or {}, **tenant.api())


def api_post(tenant: Tenant, path: str, body: dict[str, Any]) -> HttpResponse:
    return tenant.client.post(f"/api/v1{path}", json.dumps(body), content_type="application/json", **tenant.api())


def without_ids(response: HttpResponse, *ids: object) -> tuple[int, str]:
    """The status and body with the given ids and codes blanked, to compare "foreign" with "missing"."""
    text = response.content.decode()
    for value in ids:
        text = re.sub(rf"\b{re.escape(str(value))}\b", "<id>", text)
    return response.status_code, text


@pytest.mark.parametrize("resource", ["campaigns", "referrers", "leads"])
def test_getting_another_accounts_object_by_id_looks_exactly_like_a_missing_id(
    tenant: Tenant, other_tenant: Tenant, resource: str
) -> None:
    foreign_id = {"campaigns": other_tenant.campaign, "referrers": other_tenant.referrer, "leads": other_tenant.lead}[
        resource
    ].pk

    foreign = api_get(tenant, f"/{resource}/{foreign_id}")
    missing = api_get(tenant, f"/{resource}/{MISSING_ID}")

    assert foreign.status_code == 404
    assert str(other_tenant.account.name) not in foreign.content.decode()
    assert without_ids(foreign, foreign_id) == without_ids(missing, MISSING_ID)


Body = Callable[[Tenant, Tenant, object], dict[str, Any]]  # (own, other, id or code under test) -> body


@pytest.mark.parametrize(
    ("path", "body", "foreign_value", "missing_value", "field"),
    [
        (
            "/referrers",
            lambda own, other, cid: {"campaign_id": cid, "first_name": "Hal", "email": "hal@x.example"},
            lambda other: other.campaign.pk,
            MISSING_ID,
            "campaign_id",
        ),
        (
            "/leads",
            lambda own, other, cid: {
                "campaign_id": cid, "referrer_code": other.referrer.code, "first_name": "Hal", "email": "hal@x.example",
            },
            lambda other: other.campaign.pk,
            MISSING_ID,
            "campaign_id",
        ),
        (
            "/leads",
            lambda own, other, code: {
                "campaign_id": own.campaign.pk, "referrer_code": code, "first_name": "Hal", "email": "hal@x.example",
            },
            lambda other: other.referrer.code,
            "ZZZZZZZ",
            "referrer_code",
        ),
        (
            "/leads",
            lambda own, other, code: {
                "campaign_id": own.campaign.pk, "referrer_code": code, "first_name": "Hal", "email": "hal@x.example",
            },
            lambda other: other.lead.code,
            "ZZZZZZZ",
            "referrer_code",
        ),
        (
            "/leads",
            lambda own, other, rid: {
                "campaign_id": own.campaign.pk, "referrer_id": rid, "first_name": "Hal", "email": "hal@x.example",
            },
            lambda other: other.referrer.pk,
            MISSING_ID,
            "referrer_id",
        ),
    ],
    ids=[
        "referrer-in-foreign-campaign", "lead-in-foreign-campaign", "lead-credited-to-foreign-referrer-code",
        "lead-credited-to-foreign-lead-code", "lead-credited-to-foreign-referrer-id",
    ],
)
def test_writing_with_another_accounts_ids_is_422_like_a_missing_id_and_writes_nothing(
    tenant: Tenant,
    other_tenant: Tenant,
    path: str,
    body: Body,
    foreign_value: Callable[[Tenant], object],
    missing_value: object,
    field: str,
) -> None:
    value = foreign_value(other_tenant)
    counts = (Referrer.objects.count(), Lead.objects.count())

    foreign = api_post(tenant, path, body(tenant, other_tenant, value))
    missing = api_post(tenant, path, body(tenant, other_tenant, missing_value))

    assert foreign.status_code == 422
    assert list(foreign.json()["errors"]) == [field]
    assert without_ids(foreign, value) == without_ids(missing, missing_value)
    assert (Referrer.objects.count(), Lead.objects.count()) == counts


Params = Callable[[Tenant], dict[str, Any]]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/campaigns", lambda other: {}),
        ("/campaigns", lambda other: {"page": 1}),
        ("/referrers", lambda other: {}),
        ("/referrers", lambda other: {"campaign_id": other.campaign.pk}),
        ("/referrers", lambda other: {"email": other.referrer.email}),
        ("/referrers", lambda other: {"code": other.referrer.code}),
        ("/referrers", lambda other: {"campaign_id": other.campaign.pk, "code": other.referrer.code}),
        ("/leads", lambda other: {}),
        ("/leads", lambda other: {"campaign_id": other.campaign.pk}),
        ("/leads", lambda other: {"email": other.lead.email}),
        ("/leads", lambda other: {"campaign_id": other.campaign.pk, "status": "pending"}),
        ("/leads", lambda other: {"created_since": "2000-01-01T00:00:00Z", "campaign_id": other.campaign.pk}),
    ],
    ids=[
        "campaigns", "campaigns-page-1", "referrers", "referrers-by-foreign-campaign", "referrers-by-foreign-email",
        "referrers-by-foreign-code", "referrers-by-foreign-campaign-and-code", "leads", "leads-by-foreign-campaign",
        "leads-by-foreign-email", "leads-by-foreign-campaign-and-status", "leads-since-2000-in-foreign-campaign",
    ],
)
def test_api_lists_never_include_another_accounts_rows_even_when_filtered_at_them(
    tenant: Tenant, other_tenant: Tenant, path: str, params: Params
) -> None:
    query = params(other_tenant)
    foreign_ids = {
        "/campaigns": {other_tenant.campaign.pk},
        "/referrers": {other_tenant.referrer.pk},
        "/leads": {other_tenant.lead.pk},
    }[path]

    response = api_get(tenant, path, query)

    assert response.status_code == 200
    body = response.json()
    ids = {item["id"] for item in body["items"]}
    assert not ids & foreign_ids
    assert body["count"] == len(ids)
    if not query or query == {"page": 1}:
        assert ids, "the account's own rows are listed"  # so the check above is not vacuous
    else:
        assert ids == set()
