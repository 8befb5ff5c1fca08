"""Diagnose's Known customers check when reading the contacts copy fails: what ServiceTitan answered, what the copy
still does meanwhile, and the fix; the same in `referloop doctor`. Never a secret in the text."""

from __future__ import annotations

import contextlib
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from referloop.diagnostics.checks import cheap_checks
from referloop.diagnostics.result import CheckResult, Status
from referloop.integrations.models import Integration
from referloop.integrations.servicetitan.customer_sync.index import fresh_within
from referloop.integrations.servicetitan.customer_sync.models import CustomerSync, SyncState
from referloop.sandbox.config import DEMO_CLIENT_SECRET
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant
from tests.integrations.servicetitan.contacts_copying import contacts_export_refused
from tests.integrations.servicetitan.test_known_customer_index import asking_servicetitan, complete, copy_until

pytestmark = pytest.mark.django_db(transaction=True)


def known_customers(integration: Integration) -> CheckResult:
    integration.refresh_from_db()
    [result] = [r for r in cheap_checks(integration) if r.key == "known_customers"]
    return result


def doctor_output(tenant: Tenant) -> str:
    out = io.StringIO()
    with contextlib.suppress(SystemExit):  # a problem exits 1; the text is what is checked here
        call_command("doctor", tenant.campaign.slug, "--offline", stdout=out)
    return out.getvalue()


def refused_copy(tenant: Tenant, monkeypatch: pytest.MonkeyPatch, status: int = 403) -> Integration:
    integration = asking_servicetitan(tenant)
    with contacts_export_refused(monkeypatch, status):
        copy_until(integration, lambda sync: bool(sync.contacts_error))
    return integration


def test_a_copy_refused_for_a_missing_scope_is_a_problem_that_says_what_servicetitan_answered_and_the_fix(
    tenant: Tenant, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    integration = refused_copy(tenant, monkeypatch)

    result = known_customers(integration)

    assert result.status == Status.PROBLEM
    assert result.sentence.startswith("The last read of the customers' contacts failed ")
    assert "ServiceTitan refused to let the app export customer contacts because the app lacks permission" in (
        result.sentence
    )
    assert "The copy is not complete: lookups ask ServiceTitan by phone meanwhile" in result.sentence
    assert "lacks the Customers scope" in result.fix and "API Application Access" in result.fix
    assert result.data["error_permanent"] is True and result.data["state"] == "failing"
    output = doctor_output(tenant)
    assert "problem   Known customers          The last read of the customers' contacts failed" in output
    assert "lacks the Customers scope" in output
    assert DEMO_CLIENT_SECRET not in output


def test_the_failure_is_over_once_a_contacts_page_is_written_after_it(
    tenant: Tenant, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    integration = refused_copy(tenant, monkeypatch)
    CustomerSync.objects.filter(integration=integration).update(contacts_due_at=timezone.now())

    copy_until(integration, complete)

    result = known_customers(integration)
    assert result.status == Status.OK and result.data["error"] is None
    assert "contacts copied, last read" in result.sentence
    # The failure stays recorded (the time it happened), but a page written since tells it is over.
    sync = CustomerSync.objects.get(integration=integration)
    assert sync.contacts_error and sync.contacts_polled_at and sync.contacts_error_at
    assert sync.contacts_polled_at > sync.contacts_error_at


def test_a_passing_failure_while_the_copy_still_covers_is_a_warning_that_needs_nothing_done(
    tenant: Tenant, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    integration = asking_servicetitan(tenant)
    copy_until(integration, complete)
    polled = CustomerSync.objects.get(integration=integration).contacts_polled_at
    CustomerSync.objects.filter(integration=integration).update(contacts_due_at=timezone.now())  # the next poll
    with contacts_export_refused(monkeypatch, status=503):
        copy_until(integration, lambda sync: bool(sync.contacts_error))

    result = known_customers(integration)

    sync = CustomerSync.objects.get(integration=integration)
    assert sync.contacts_polled_at == polled and not sync.contacts_error_permanent
    assert result.status == Status.WARNING
    assert "ServiceTitan had a server error (HTTP 503)" in result.sentence
    assert "The copy (" in result.sentence and "still answers leads until it is 20 minutes old" in result.sentence
    assert result.fix.startswith("Nothing to do if it passes")


def test_a_stale_copy_names_the_referrer_syncs_failed_retry_when_that_sync_reads_the_contacts(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = asking_servicetitan(tenant)
    copy_until(integration, complete)
    now = timezone.now()
    CustomerSync.objects.filter(integration=integration).update(
        state=SyncState.RUNNING,
        run=1,
        contacts_polled_at=now - 2 * fresh_within(),
        last_error="Could not connect to ServiceTitan (127.0.0.1) to export customer contacts; nothing was sent.",
        last_error_at=now,
    )

    result = known_customers(integration)

    assert result.status == Status.WARNING
    assert "Could not connect to ServiceTitan" in result.sentence and "is behind, last read" in result.sentence


def test_a_secret_in_the_error_text_never_reaches_diagnose_or_doctor(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = asking_servicetitan(tenant)
    CustomerSync.objects.filter(integration=integration).update(
        contacts_error=f"ServiceTitan could not export customer contacts: bad client_secret {DEMO_CLIENT_SECRET}.",
        contacts_error_at=timezone.now(),
        contacts_error_permanent=True,
    )

    result = known_customers(integration)

    assert DEMO_CLIENT_SECRET not in result.sentence and "[secret removed]" in result.sentence
    assert DEMO_CLIENT_SECRET not in doctor_output(tenant)
    page = tenant.client.get(f"/campaigns/{tenant.campaign.pk}/integrations/servicetitan/referrers/")
    assert DEMO_CLIENT_SECRET not in page.content.decode()
