"""The support bundle, end to end: download it through the view, open the zip, and look for what must not be there."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from referloop.campaigns.intake import submit_lead
from referloop.diagnostics.redact import REDACTED, Redactor, personal_values
from referloop.integrations.models import Attempt, AttemptOutcome, Delivery, DeliveryState, IntegrationChange
from referloop.sandbox.config import DEMO_APP_KEY, DEMO_CLIENT_SECRET, DEMO_TENANT_ID

pytestmark = pytest.mark.django_db

OWN_APP_KEY = "ak1.comfort-pro-own-app-0042"
PHONE = "555-867-5309"
STREET = "742 Evergreen Terrace"
EMAIL = "homer.simpson@springfield.example"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.secret-token-payload"


@pytest.fixture
def failed_lead(integration, tenant, sandbox):
    """A lead whose booking ServiceTitan refused, with the attempt as the worker records it."""
    sandbox.set(app_keys=[DEMO_APP_KEY, OWN_APP_KEY])
    integration.own_app_key = OWN_APP_KEY
    integration.save()
    lead = submit_lead(
        tenant.campaign,
        tenant.referrer,
        {
            "first_name": "Homer",
            "last_name": "Simpson",
            "email": EMAIL,
            "phone": PHONE,
            "street": STREET,
            "city": "Springfield",
            "state": "OR",
            "zip_code": "97403",
        },
    ).lead
    delivery = Delivery.objects.get(lead=lead)
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.FAILED,
        failed_at=now,
        attempt_count=1,
        last_error="ServiceTitan could not create a booking because of these fields: Phone: invalid.",
    )
    Attempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=now - timedelta(seconds=5),
        duration_ms=180,
        outcome=AttemptOutcome.PERMANENT,
        response_status=400,
        response_text=f"One or more validation errors occurred.; contacts[1].value: '{PHONE}' is not valid",
        sentence="ServiceTitan could not create a booking because of these fields: Phone: invalid.",
        request_summary={
            "environment": "Sandbox",
            "requests": [
                {
                    "method": "POST",
                    "path": f"/crm/v2/tenant/{DEMO_TENANT_ID}/booking-provider/42/bookings",
                    "body": {
                        "source": "Comfort Pro referrals",
                        "name": "Homer Simpson",
                        "summary": "Referral from Maria Lopez: Homer at 742 Evergreen Terrace",
                        "contacts": [{"type": "Email", "value": EMAIL}, {"type": "Phone", "value": PHONE}],
                        "address": {"street": STREET, "city": "Springfield", "state": "OR", "zip": "97403"},
                        "isFirstTimeClient": True,
                        "externalId": lead.code,
                    },
                    # The worker never records headers; if one ever did, the bundle must still not carry them.
                    "headers": {"Authorization": f"Bearer {TOKEN}", "ST-App-Key": OWN_APP_KEY},
                }
            ],
        },
    )
    return lead


def download(tenant, integration, **data) -> tuple[dict[str, str], str]:
    url = reverse("integration_support_bundle", args=[integration.campaign_id, integration.provider])
    response = tenant.client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/zip"
    disposition = response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        files = {name: archive.read(name).decode() for name in archive.namelist()}
    return files, disposition


def test_the_bundle_holds_config_checks_failed_attempts_and_the_timeline_without_secrets_or_personal_data(
    integration, tenant, failed_lead
) -> None:
    files, disposition = download(tenant, integration, email=EMAIL.upper())

    assert sorted(files) == ["bundle.json", "bundle.txt"]
    assert disposition.startswith('attachment; filename="referloop-support-comfort-pro-')
    for name, text in files.items():
        for secret in (DEMO_CLIENT_SECRET, OWN_APP_KEY, DEMO_APP_KEY, TOKEN, settings.SECRET_KEY):
            assert secret not in text, (name, secret)
        for personal in (EMAIL, PHONE, "5558675309", STREET, "Homer", "Simpson", "Maria Lopez", "maria@comfort-pro"):
            assert personal.casefold() not in text.casefold(), (name, personal)

    data = json.loads(files["bundle.json"])
    assert data["personal_data_included"] is False
    assert data["integration"]["client_secret"] == "••••••••cret"
    assert data["integration"]["app_key"] == "own App Key ••••••••0042"
    assert data["integration"]["field_mapping"]["name"] == {"data_type": "dynamic", "source": "lead.full_name"}
    assert [c["key"] for c in data["checks"]["results"]][:4] == [
        "lead_action",
        "required_fields",
        "mapping_on_leads",
        "credentials",
    ]
    checks = {c["key"]: c for c in data["checks"]["results"]}
    assert checks["app_key"]["sentence"] == f"ServiceTitan accepted your own app's App Key for tenant {DEMO_TENANT_ID}."
    assert checks["deliveries"]["details"] == [
        "1 failed: ServiceTitan could not create a booking because of these fields: Phone: invalid. "
        f"Newest: {REDACTED}."
    ]
    [attempt] = data["failed_attempts"]
    request = attempt["request_summary"]["requests"][0]
    assert attempt["lead_email"] == REDACTED
    assert attempt["response_status"] == 400
    assert attempt["response_text"] == (
        f"One or more validation errors occurred.; contacts[1].value: '{REDACTED}' is not valid"
    )
    assert request["body"]["contacts"] == [
        {"type": "Email", "value": REDACTED},
        {"type": "Phone", "value": REDACTED},
    ]
    assert request["body"]["summary"] == f"Referral from {REDACTED}: {REDACTED} at {REDACTED}"
    assert request["body"]["externalId"] == failed_lead.code
    assert request["headers"] == {"Authorization": "[secret removed]", "ST-App-Key": "[secret removed]"}
    timeline = data["lead_timeline"]
    assert timeline["found"] is True
    assert timeline["lead"]["id"] == failed_lead.pk
    assert timeline["lead"]["email"] == REDACTED
    assert [d["state"] for d in timeline["deliveries"]] == ["failed"]
    assert [a["outcome"] for a in timeline["deliveries"][0]["attempts"]] == ["permanent"]

    text = files["bundle.txt"]
    assert "Personal data: redacted ([redacted])" in text
    assert f"[ok] Credentials: ServiceTitan issued a token for tenant {DEMO_TENANT_ID}" in text
    assert "    ServiceTitan: One or more validation errors occurred." in text
    assert IntegrationChange.objects.filter(
        integration=integration, summary="Downloaded a support bundle (personal data redacted)."
    ).exists()


def test_ticking_include_personal_data_keeps_it_but_never_the_secrets(integration, tenant, failed_lead) -> None:
    files, _ = download(tenant, integration, email=EMAIL, include_personal_data="on")

    data = json.loads(files["bundle.json"])
    assert data["personal_data_included"] is True
    assert data["lead_timeline"]["lead"]["email"] == EMAIL
    assert data["failed_attempts"][0]["request_summary"]["requests"][0]["body"]["contacts"][1]["value"] == PHONE
    assert PHONE in files["bundle.txt"]
    for text in files.values():
        for secret in (DEMO_CLIENT_SECRET, OWN_APP_KEY, DEMO_APP_KEY, TOKEN):
            assert secret not in text


def test_only_the_last_50_failed_attempts_are_included_newest_first(integration, tenant, failed_lead) -> None:
    delivery = Delivery.objects.get(lead=failed_lead)
    start = timezone.now() - timedelta(hours=2)
    Attempt.objects.bulk_create(
        Attempt(
            delivery=delivery,
            number=n,
            started_at=start + timedelta(minutes=n),
            outcome=AttemptOutcome.TRANSIENT,
            response_status=503,
            sentence=f"ServiceTitan had a server error (try {n}).",
        )
        for n in range(2, 62)
    )
    Attempt.objects.create(
        delivery=delivery, number=99, started_at=timezone.now(), outcome=AttemptOutcome.DELIVERED, response_status=200
    )

    files, _ = download(tenant, integration)

    data = json.loads(files["bundle.json"])
    assert len(data["failed_attempts"]) == 50
    assert [a["number"] for a in data["failed_attempts"][:3]] == [1, 61, 60]
    assert "delivered" not in {a["outcome"] for a in data["failed_attempts"]}
    assert data["lead_timeline"] is None


def test_an_email_with_no_lead_says_so_in_the_bundle(integration, tenant) -> None:
    files, _ = download(tenant, integration, email="nobody@example.com")

    data = json.loads(files["bundle.json"])
    assert data["lead_timeline"] == {
        "email": REDACTED,
        "found": False,
        "note": "No lead with this email in this campaign.",
    }


def test_an_invalid_email_shows_the_form_error_instead_of_a_download(integration, tenant) -> None:
    url = reverse("integration_support_bundle", args=[integration.campaign_id, integration.provider])

    response = tenant.client.post(url, {"email": "not-an-email"})

    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()


def test_the_redactor_keeps_words_that_merely_contain_a_name() -> None:
    redactor = Redactor(secrets=["cs.long-secret"], personal=["Tom"])

    assert redactor.text("Tom called about Tomorrow's visit; key cs.long-secret") == (
        "[redacted] called about Tomorrow's visit; key [secret removed]"
    )


def test_short_numbers_from_a_lead_do_not_redact_dates_and_ids(tenant) -> None:
    tenant.lead.custom_data = {"system_age": 12}
    redactor = Redactor(secrets=[], personal=personal_values([tenant.lead]))

    assert redactor.text("2026-12-01 booking 12 for Tom Nguyen") == "2026-12-01 booking 12 for [redacted]"
