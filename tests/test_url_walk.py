"""Every URL pattern, walked with hostile values, answers without a 5xx, as an owner and anonymously.

Each path parameter gets a valid value from the fixtures, then in turn a NUL, superscript digits, a 30-digit
number and a 10,000-character value; each reachable page is also fetched (GET) and posted to (POST) with those
values in its query string and form fields. Runs on SQLite and on PostgreSQL (DATABASE_URL): PostgreSQL refuses
NUL characters and 64-bit overflow where SQLite does not, so both must agree.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from referloop.accounts.models import Role
from referloop.accounts.services import create_invitation
from referloop.campaigns.models import ImportJob
from referloop.campaigns.outcomes import qualify_by_hand
from referloop.integrations.models import Delivery, Integration
from referloop.integrations.webhooks import service as webhooks
from referloop.integrations.webhooks.models import WebhookEndpoint
from referloop.rewards.models import Reward, RewardRule
from tests.conftest import Tenant

HOSTILE = {
    "nul": "ABC\x00DEF",
    "superscript": "²",
    "huge": "9" * 30,
    "long": "a" * 10_000,
}

# Every name a view reads from request.GET or request.POST (grep GET.get/POST.get), plus the forms' own fields.
FIELD_NAMES = [
    "account_id", "referrer", "lead", "q", "email", "status", "state", "page", "step", "key", "campaign", "show",
    "partial", "held", "back", "action", "name", "slug", "first_name", "last_name", "phone", "street", "city",
    "zip_code", "notes", "url", "events", "description", "environment", "tenant_id", "client_id", "client_secret",
    "booking_provider_id", "app_key", "lead_action", "password", "password1", "password2", "new_password1",
    "new_password2", "username", "role", "label", "field_type", "choices", "required", "offer_text",
    "reward_description", "ids", "delivery", "next", "code", "account_name", "note", "reason", "amount", "reward",
    "codes", "hold_days", "referrer_kind", "referrer_amount", "referrer_currency", "milestone_every",
]  # fmt: skip

# "<int:campaign_id>", or a regex pattern's group "(?P<app_label>auth|accounts)" (the admin's).
# A valid form, so that a view gets as far as reading its ids; then each id-like field is made hostile.
VALID_FORM = {
    "first_name": "Ana", "last_name": "Reyes", "email": "ana.reyes@walk.example", "phone": "5125550100",
    "name": "Walk", "description": "walk", "url": "https://hooks.example.com/in", "events": "lead.created",
}  # fmt: skip
ID_FIELDS = [
    "account_id", "referrer", "lead", "campaign", "tenant_id", "booking_provider_id", "page", "delivery", "ids",
    "key", "step", "state", "status", "held", "action", "role", "environment", "lead_action", "reward",
]  # fmt: skip

PARAM = re.compile(r"\(\?P<(?P<group>[^>]+)>[^)]*\)|<(?:[^>:]+:)?(?P<name>[^>]+)>")


@dataclass
class Route:
    template: str  # "campaigns/<int:campaign_id>/leads/"
    names: list[str]


def routes() -> list[Route]:
    found: list[Route] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            pattern = str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + pattern)
            elif isinstance(entry, URLPattern):
                template = prefix + pattern
                found.append(Route(template, [m["group"] or m["name"] for m in PARAM.finditer(template)]))

    walk(get_resolver().url_patterns, "")
    return found


def fill(template: str, values: dict[str, str]) -> str:
    path = "/" + PARAM.sub(lambda m: values[m["group"] or m["name"]], template)
    return path.replace("^", "").replace("$", "").replace("\\Z", "")  # the admin's regex anchors


@dataclass
class Fixtures:
    tenant: Tenant
    values: dict[str, str]


@pytest.fixture
def world(tenant: Tenant) -> Fixtures:
    integration = Integration.objects.create(campaign=tenant.campaign, tenant_id=1, client_id="c")
    delivery = Delivery.objects.filter(lead=tenant.lead).first()
    # Made directly: the service resolves the host, and this test needs no network.
    endpoint = WebhookEndpoint(account=tenant.account, url="https://hooks.example.com/in", events=["lead.created"])
    endpoint.secret = webhooks.new_secret()
    endpoint.save()
    csv_file = SimpleUploadedFile("people.csv", b"first_name,email\nAna,ana@walk.example\n", content_type="text/csv")
    response = tenant.client.post(
        reverse("csv_import", args=[tenant.campaign.pk, "referrers"]), {"kind": "referrers", "file": csv_file}
    )
    assert response.status_code == 302, response.content.decode()[:1000]
    job = ImportJob.objects.get(campaign=tenant.campaign)  # made as a user makes one: the import screen
    _invitation, invitation_token = create_invitation(
        tenant.account, "new@comfortpro.example", Role.MEMBER, tenant.user
    )
    field = tenant.campaign.custom_fields.get()
    key = tenant.account.api_keys.get()
    RewardRule.objects.create(
        campaign=tenant.campaign, recipient="referrer", trigger="qualified", kind="fixed", amount=50
    )
    qualify_by_hand(tenant.lead, tenant.user, "walk")  # the referrer earns a reward for the reward pages
    values = {
        "reward_id": str(Reward.objects.get(lead=tenant.lead).pk),
        "campaign_id": str(tenant.campaign.pk),
        "referrer_id": str(tenant.referrer.pk),
        "lead_id": str(tenant.lead.pk),
        "field_id": str(field.pk),
        "key_id": str(key.pk),
        "endpoint_id": str(endpoint.pk),
        "email_id": "1",  # an email that may not exist: its views answer 404
        "delivery_id": str(delivery.pk if delivery else 1),
        "job_id": str(job.pk),
        "provider": integration.provider,
        "slug": tenant.campaign.slug,
        "code": tenant.referrer.code,
        "tab": "referral-page",
        "kind": "leads",
        "action": "resend",
        "token": invitation_token,
        "uidb64": "MQ",
        "path": "x",
        "unknown": "nothing",
        "app_label": "campaigns",
        "object_id": str(tenant.campaign.pk),
        "id": str(tenant.user.pk),
        "url": "x",
        "content_type_id": "1",
    }
    return Fixtures(tenant, values)


def requests_for(route: Route, values: dict[str, str]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(method, path, data): the valid path with hostile query/form values, and each parameter made hostile."""
    valid = fill(route.template, values)
    yield "GET", valid, {}
    for hostile in HOSTILE.values():
        data = dict.fromkeys(FIELD_NAMES, hostile)
        yield "GET", valid, data
        yield "POST", valid, data
        yield "POST", valid, {**VALID_FORM, **dict.fromkeys(ID_FIELDS, hostile)}
        for name in route.names:
            yield "GET", fill(route.template, {**values, name: hostile}), {}


def test_no_url_answers_a_5xx_to_hostile_values(world: Fixtures) -> None:
    anonymous = Client(raise_request_exception=False)
    owner = Client(raise_request_exception=False)
    failures: list[str] = []
    all_routes = routes()
    assert len(all_routes) > 50, "the walk found too few URL patterns"
    logging.disable(logging.CRITICAL)  # thousands of 404/400 lines (some 10,000 characters long) cost seconds
    try:
        walk_routes(all_routes, world, owner, anonymous, failures)
    finally:
        logging.disable(logging.NOTSET)
    assert not failures, f"{len(failures)} 5xx answers:\n" + "\n".join(failures[:80])


def walk_routes(
    all_routes: list[Route], world: Fixtures, owner: Client, anonymous: Client, failures: list[str]
) -> None:
    for route in all_routes:
        # Each route starts from the same rows and a logged-in owner: a POST may delete, archive or log out.
        with transaction.atomic():
            owner.force_login(world.tenant.user)
            for method, path, data in requests_for(route, world.values):
                for who, client in (("owner", owner), ("anonymous", anonymous)):
                    response = client.get(path, data) if method == "GET" else client.post(path, data)
                    if response.status_code >= 500:
                        value = next(iter(data.values()), "")
                        error = repr(response.exc_info[1])[:150] if response.exc_info else ""
                        failures.append(
                            f"{who} {method} {path[:70]!r} value={value[:8]!r}: {response.status_code} {error}"
                        )
            transaction.set_rollback(True)


def test_the_walk_covers_the_routes_with_ids() -> None:
    templates = {route.template for route in routes()}
    assert "r/<str:code>/" in templates
    assert "campaigns/<int:campaign_id>/leads/add/" in templates
