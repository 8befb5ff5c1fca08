"""Each check produces its problem for real (against the sandbox, or with real leads) and says the fix."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import CustomField, Referrer
from referloop.diagnostics import checks
from referloop.diagnostics.checks import cheap_checks, run_checks
from referloop.diagnostics.result import CheckResult, Status, has_problem
from referloop.integrations.models import (
    ConnectionState,
    Delivery,
    DeliveryState,
    Environment,
    Integration,
    LeadAction,
    WorkerHeartbeat,
)
from referloop.providers.servicetitan import FieldMapping
from referloop.sandbox import SandboxConfig
from referloop.sandbox.config import DEMO_TENANT_ID
from referloop.sandbox.testing import running_sandbox

pytestmark = pytest.mark.django_db

ORDER = [
    "lead_action",
    "required_fields",
    "mapping_on_leads",
    "credentials",
    "app_key",
    "booking_provider",
    "pick_lists",
    "deliveries",
    "held",
    "worker",
    "queue",
    "follower",
]


def by_key(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.key: result for result in results}


def add_lead(tenant, email: str, **data):
    return submit_lead(
        tenant.campaign, tenant.referrer, {"first_name": "Lee", "last_name": "Park", "email": email, **data}
    ).lead


def test_a_healthy_integration_passes_every_check_in_the_documented_order(integration, running_worker) -> None:
    results = run_checks(integration)

    assert [r.key for r in results] == ORDER
    assert {r.key: str(r.status) for r in results} == dict.fromkeys(ORDER, "ok")
    found = by_key(results)
    assert found["credentials"].sentence == (
        f"ServiceTitan issued a token for tenant {DEMO_TENANT_ID} in Sandbox (local) with this Client ID and Client "
        "Secret."
    )
    assert found["app_key"].sentence == f"ServiceTitan accepted referloop's app for tenant {DEMO_TENANT_ID}."
    assert found["booking_provider"].sentence == (
        f"Booking Provider Value 42 (“referloop”) exists for tenant {DEMO_TENANT_ID} in Sandbox (local)."
    )
    assert found["mapping_on_leads"].sentence == "The mapping builds a valid booking for the only lead."
    assert not has_problem(results)


def test_nothing_to_action_is_a_problem_whose_fix_is_the_lead_action_on_the_leads_tab(
    integration, tenant, running_worker
) -> None:
    integration.lead_action = LeadAction.NOTHING
    integration.save()
    add_lead(tenant, "skipped@example.com")  # recorded as skipped by the real intake path

    result = by_key(cheap_checks(integration))["lead_action"]

    assert result.status == Status.PROBLEM
    assert result.sentence == (
        "The lead action is “Nothing to action”, so no bookings are created in ServiceTitan. 1 lead was skipped in "
        "the last 24 hours."
    )
    assert result.fix.startswith(
        "On the Leads tab, set “When lead joins campaign” to “Create New Booking In ServiceTitan” and click Save "
        "Changes."
    )
    assert (result.fix_url_name, result.fix_url_params) == ("integration_leads", (tenant.campaign.pk, "servicetitan"))
    assert result.fix_url  # resolves (to the Leads tab, or the Integrations settings until that route exists)


def test_required_fields_that_are_not_mapped_are_named_with_what_to_pick(integration, tenant) -> None:
    mapping = integration.mapping()
    del mapping["contacts.Email"]
    mapping["summary"] = FieldMapping("fixed", "  ")
    integration.set_mapping(mapping)
    integration.save()

    result = by_key(cheap_checks(integration))["required_fields"]

    assert result.status == Status.PROBLEM
    assert result.sentence == (
        "Setup Required: Email and Summary are not mapped, so new leads are held instead of sent to ServiceTitan."
    )
    assert result.fix == (
        "On the Leads tab, under Map your fields, give Email and Summary a value (Email → Dynamic Value → Lead Email; "
        "Summary → Fixed Value → “Referral from {Referrer Full Name}: {Lead Notes}”), then click Save Changes. "
        "Held leads go out on their own."
    )
    assert result.fix_url_name == "integration_leads"


def test_email_mapped_from_an_optional_custom_field_fails_for_the_share_of_recent_leads_without_it(
    integration, tenant
) -> None:
    CustomField.objects.create(campaign=tenant.campaign, key="contact_email", label="Contact email", required=False)
    add_lead(tenant, "a@example.com", custom_contact_email="a.work@example.com")
    add_lead(tenant, "b@example.com")
    add_lead(tenant, "c@example.com")
    mapping = integration.mapping()
    mapping["contacts.Email"] = FieldMapping("dynamic", "custom.contact_email")
    integration.set_mapping(mapping)
    integration.save()

    result = by_key(cheap_checks(integration))["mapping_on_leads"]

    assert result.status == Status.PROBLEM
    assert result.sentence == (
        "The mapping fails on real leads: Email for 3 of the 4 most recent leads (75%), so they would not become "
        "bookings."
    )
    assert result.details == [
        "Email is mapped from Contact email (an optional text field on the lead form), which is empty for 3 of 4 "
        "recent leads (75%)."
    ]
    assert result.fix == (
        "On the Leads tab, map Email to Dynamic Value → Lead Email (every lead has one), not to an optional field. "
        "Then click Save Changes."
    )
    assert result.data["fields"][0] | {} == {
        "key": "contacts.Email",
        "label": "Email",
        "affected": 3,
        "share": 0.75,
        "empty": 3,
        "invalid": 0,
        "reasons": {"is required but this lead has no Contact email": 3},
    }


def test_is_first_time_client_from_free_text_is_reported_with_a_sample_value(integration, tenant) -> None:
    CustomField.objects.create(campaign=tenant.campaign, key="first_visit", label="First visit?", required=True)
    tenant.lead.delete()
    add_lead(tenant, "a@example.com", custom_first_visit="yes")
    add_lead(tenant, "b@example.com", custom_first_visit="not sure")
    mapping = integration.mapping()
    mapping["isFirstTimeClient"] = FieldMapping("dynamic", "custom.first_visit")
    integration.set_mapping(mapping)
    integration.save()

    result = by_key(cheap_checks(integration))["mapping_on_leads"]

    assert result.status == Status.PROBLEM
    assert result.sentence == (
        "The mapping fails on real leads: Is First Time Client for 1 of the 2 most recent leads (50%), so they would "
        "not become bookings."
    )
    assert result.details == [
        "Is First Time Client is mapped from First visit? (a text field on the lead form), which is not usable for 1 "
        "of 2 recent leads (50%); for example “not sure” is not Yes or No."
    ]
    assert result.fix.startswith("On the Leads tab, set Is First Time Client to Manual Select → Yes (or No)")


def test_a_wrong_client_secret_is_rejected_by_servicetitan_and_the_fix_is_a_new_secret(integration) -> None:
    integration.client_secret = "cs.mistyped"
    integration.save()

    found = by_key(run_checks(integration))

    assert found["credentials"].status == Status.PROBLEM
    assert found["credentials"].sentence == (
        f"ServiceTitan rejected the Client ID and Client Secret for tenant {DEMO_TENANT_ID} in Sandbox (local)."
    )
    assert "generate a new Client Secret" in found["credentials"].fix
    assert found["credentials"].fix_url_name == "integration_connection"
    assert found["app_key"].status == Status.SKIPPED
    assert found["booking_provider"].status == Status.SKIPPED


def test_credentials_from_the_integration_environment_are_recognised_when_set_to_production(
    integration, sandbox, settings
) -> None:
    production = SandboxConfig.demo()
    production.tenants[0].client_secret = "cs.the-production-secret"  # the demo secret is not valid there
    with running_sandbox(production) as production_sandbox:
        settings.SERVICETITAN_ENVIRONMENT_OVERRIDES = {
            "production": production_sandbox.base_url,
            "integration": sandbox.base_url,
        }
        integration.environment = Environment.PRODUCTION
        integration.save()

        result = by_key(run_checks(integration))["credentials"]

    assert result.status == Status.PROBLEM
    assert result.sentence == (
        "These credentials belong to the Integration environment, this integration is set to Production."
    )
    assert result.fix.startswith("On the Connection tab, choose Integration in step one;")
    assert result.data == {"environment": "production", "accepted_by": "integration"}


def test_a_booking_provider_value_the_tenant_does_not_have_is_named(integration) -> None:
    integration.booking_provider_id = 999
    integration.save()

    found = by_key(run_checks(integration))

    assert found["app_key"].status == Status.OK
    assert found["booking_provider"].status == Status.PROBLEM
    assert found["booking_provider"].sentence == (
        f"Booking Provider Value 999 was not found for tenant {DEMO_TENANT_ID} in Sandbox (local)."
    )
    assert "copy its Allowed “booking_provider” value exactly" in found["booking_provider"].fix


def test_an_own_app_key_servicetitan_rejects_is_reported_after_a_good_token(integration) -> None:
    integration.own_app_key = "ak1.not-a-real-app"
    integration.save()

    found = by_key(run_checks(integration))

    assert found["credentials"].status == Status.OK
    assert found["app_key"].status == Status.PROBLEM
    assert found["app_key"].sentence.startswith(
        "ServiceTitan accepted the Client ID and Secret but rejected the App Key of your own app (set under Advanced)."
    )
    assert found["app_key"].fix.startswith("On the Connection tab under Advanced, paste the App Key of your own app")
    assert found["booking_provider"].status == Status.SKIPPED


def test_referloops_own_app_rejected_for_the_tenant_says_to_connect_the_app(integration, sandbox) -> None:
    sandbox.set(app_keys=["ak1.some-other-app"])

    result = by_key(run_checks(integration))["app_key"]

    assert result.status == Status.PROBLEM
    assert result.sentence.startswith(
        f"ServiceTitan accepted the Client ID and Secret but rejected referloop's app for tenant {DEMO_TENANT_ID}."
    )
    assert "connect the referloop app (Connect New App)" in result.fix


def test_an_integration_that_is_not_connected_skips_the_servicetitan_checks_with_a_clear_sentence(tenant) -> None:
    integration = Integration.objects.create(campaign=tenant.campaign, tenant_id=DEMO_TENANT_ID)

    found = by_key(run_checks(integration))

    assert found["credentials"].status == Status.PROBLEM
    assert found["credentials"].sentence == (
        "ServiceTitan is not connected yet: the Client ID and Client Secret are missing, so leads are held."
    )
    assert found["app_key"].sentence == "Skipped: it needs working credentials first (see Credentials)."
    assert found["booking_provider"].status == Status.SKIPPED


def test_servicetitan_out_of_reach_becomes_a_problem_result_not_an_exception(integration, settings) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.SERVICETITAN_ENVIRONMENT_OVERRIDES = {"production": f"http://127.0.0.1:{port}"}
    integration.environment = Environment.PRODUCTION
    integration.save()

    result = by_key(run_checks(integration))["credentials"]

    assert result.status == Status.PROBLEM
    assert result.sentence.startswith(
        "Could not check with ServiceTitan: Could not connect to ServiceTitan (127.0.0.1)"
    )
    assert result.fix.startswith("Run the checks again in a minute.")


def test_a_disconnected_integration_with_working_credentials_is_a_warning_to_reconnect(integration) -> None:
    integration.state = ConnectionState.DISCONNECTED
    integration.save()

    result = by_key(run_checks(integration))["credentials"]

    assert result.status == Status.WARNING
    assert result.fix == "On the Connection tab, click Reconnect to send held leads."


def test_a_stopped_worker_is_a_problem_that_says_to_start_referloop_worker(integration) -> None:
    WorkerHeartbeat.objects.create(
        worker_id="w1", hostname="app-1", pid=99, seen_at=timezone.now() - timedelta(minutes=5)
    )

    result = by_key(cheap_checks(integration))["worker"]

    assert result.status == Status.PROBLEM
    assert result.sentence.startswith(
        "The worker is not running: no heartbeat in the last 30 seconds; the last heartbeat (app-1, pid 99) was "
        "5 minutes ago"
    )
    assert result.fix.startswith("Start the worker on the server: run `referloop worker`")


def test_a_worker_that_shut_down_cleanly_is_not_running_either(integration) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="w1", hostname="app-1", pid=99, seen_at=now, stopped_at=now)

    result = by_key(cheap_checks(integration))["worker"]

    assert result.status == Status.PROBLEM
    assert "the last one (app-1, pid 99) stopped 0 seconds ago" in result.sentence


def test_failed_deliveries_are_grouped_by_sentence_with_counts_and_the_newest_lead_email(
    integration, tenant, running_worker
) -> None:
    now = timezone.now()
    bad_email = "ServiceTitan could not create a booking because of these fields: Email: invalid."
    rows = [
        ("old@example.com", bad_email, now - timedelta(hours=3)),
        ("newest@example.com", bad_email, now - timedelta(minutes=5)),
        ("forbidden@example.com", "ServiceTitan refused to let the app create a booking.", now - timedelta(hours=1)),
        ("yesterday@example.com", bad_email, now - timedelta(hours=30)),  # outside the window
    ]
    for email, sentence, failed_at in rows:
        lead = add_lead(tenant, email)
        Delivery.objects.filter(lead=lead).update(
            state=DeliveryState.FAILED, last_error=sentence, failed_at=failed_at, attempt_count=1
        )
    Delivery.objects.filter(lead=add_lead(tenant, "ok@example.com")).update(
        state=DeliveryState.DELIVERED, delivered_at=now - timedelta(minutes=42), remote_id=10_000_001
    )

    result = by_key(cheap_checks(integration))["deliveries"]

    assert result.status == Status.PROBLEM
    assert result.sentence.startswith(
        "3 deliveries failed in the last 24 hours (2 causes); the last booking was created 42 minutes ago"
    )
    assert result.details == [
        f"2 failed: {bad_email} Newest: newest@example.com.",
        "1 failed: ServiceTitan refused to let the app create a booking. Newest: forbidden@example.com.",
    ]
    assert result.fix_url_name == "integration_activity"


def test_held_leads_are_counted_by_reason_and_the_fix_is_the_current_hold_reason(integration, tenant) -> None:
    mapping = integration.mapping()
    del mapping["contacts.Email"]
    integration.set_mapping(mapping)
    integration.save()
    add_lead(tenant, "held1@example.com")
    add_lead(tenant, "held2@example.com")

    result = by_key(cheap_checks(integration))["held"]

    assert result.status == Status.PROBLEM
    assert result.sentence.startswith("2 leads are held and not sent to ServiceTitan; the oldest has waited")
    assert result.details == ["2 held: Setup Required: map Email on the Leads tab."]
    assert result.fix == "Setup Required: map Email on the Leads tab."
    assert result.fix_url_name == "integration_leads"


def test_the_oldest_due_delivery_is_a_problem_after_fifteen_minutes(integration, tenant, running_worker) -> None:
    lead = add_lead(tenant, "waiting@example.com")
    Delivery.objects.filter(lead=lead).update(next_attempt_at=timezone.now() - timedelta(minutes=20))

    result = by_key(cheap_checks(integration))["queue"]

    assert result.status == Status.PROBLEM
    assert result.sentence == "1 delivery is due; the oldest has waited 20 minutes."
    assert result.data == {"due": 1, "oldest_age_seconds": pytest.approx(1200, abs=5)}


def test_a_check_that_crashes_becomes_a_problem_instead_of_an_error_page(integration, monkeypatch) -> None:
    def explode(ctx: checks.Context) -> CheckResult:
        raise RuntimeError("boom")

    monkeypatch.setattr(checks, "DB_AFTER_LIVE", [explode])

    results = cheap_checks(integration)

    assert results[-1].status == Status.PROBLEM
    assert results[-1].sentence == "This check could not run: RuntimeError: boom"


def test_only_the_campaigns_own_leads_are_checked_against_the_mapping(integration, other_tenant) -> None:
    assert Referrer.objects.filter(campaign=other_tenant.campaign).exists()
    assert other_tenant.campaign.leads.count() == 1

    result = by_key(cheap_checks(integration))["mapping_on_leads"]

    assert result.data["leads_checked"] == 1


# Capped counts (issue 16 §2): past checks.CAP a count reads "N+" and groups are made of the newest N rows.
def hold_new_leads(integration) -> None:
    """Email unmapped: every new lead is held."""
    mapping = integration.mapping()
    del mapping["contacts.Email"]
    integration.set_mapping(mapping)
    integration.save()


def test_held_leads_past_the_cap_read_as_n_plus_grouped_among_the_newest_and_the_oldest_is_the_oldest_of_all(
    integration, tenant, monkeypatch
) -> None:
    monkeypatch.setattr(checks, "CAP", 2)
    hold_new_leads(integration)
    oldest = add_lead(tenant, "held1@example.com")
    Delivery.objects.filter(lead=oldest).update(created_at=timezone.now() - timedelta(hours=3))
    add_lead(tenant, "held2@example.com")
    add_lead(tenant, "held3@example.com")

    result = by_key(cheap_checks(integration))["held"]

    assert result.sentence == "2+ leads are held and not sent to ServiceTitan; the oldest has waited 3 hours."
    assert result.details == ["2 of the newest 2 held: Setup Required: map Email on the Leads tab."]
    assert result.data["held"] == 2
    assert result.data["capped"] == ["held"]


def test_held_leads_exactly_at_the_cap_are_counted_exactly(integration, tenant, monkeypatch) -> None:
    monkeypatch.setattr(checks, "CAP", 2)
    hold_new_leads(integration)
    add_lead(tenant, "held1@example.com")
    add_lead(tenant, "held2@example.com")

    result = by_key(cheap_checks(integration))["held"]

    assert result.sentence.startswith("2 leads are held and not sent to ServiceTitan;")
    assert result.details == ["2 held: Setup Required: map Email on the Leads tab."]
    assert "capped" not in result.data


def test_failed_deliveries_past_the_cap_read_as_n_plus_with_their_causes_among_the_newest_failures(
    integration, tenant, monkeypatch
) -> None:
    monkeypatch.setattr(checks, "CAP", 2)
    now = timezone.now()
    # Newest by when they failed (the failed rows' own index), not by when the lead came: the first lead failed last.
    for n, error in enumerate(["Email: invalid.", "Email: invalid.", "Phone: invalid."]):
        lead = add_lead(tenant, f"failed{n}@example.com")
        Delivery.objects.filter(lead=lead).update(
            state=DeliveryState.FAILED, last_error=error, failed_at=now - timedelta(minutes=n), attempt_count=1
        )

    result = by_key(cheap_checks(integration))["deliveries"]

    assert result.sentence.startswith("2+ deliveries failed in the last 24 hours (1 cause among the newest 2);")
    assert result.details == ["2 of the newest 2 failed: Email: invalid. Newest: failed0@example.com."]
    assert result.data["capped"] == ["failed_last_24h"]


def test_deliveries_waiting_for_a_stopped_worker_past_the_cap_read_as_n_plus(integration, tenant, monkeypatch) -> None:
    monkeypatch.setattr(checks, "CAP", 2)
    for n in range(3):
        add_lead(tenant, f"waiting{n}@example.com")  # pending, and no worker has ever run

    result = by_key(cheap_checks(integration))["worker"]

    assert result.sentence.endswith("; no worker has ever sent a heartbeat. 2+ deliveries are waiting for it.")
    assert (result.data["pending"], result.data["capped"]) == (2, ["pending"])
