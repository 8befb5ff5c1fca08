"""`referloop doctor <campaign-slug>`: the same checks in a terminal, `--json`, and exit codes for scripts."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from referloop.campaigns.intake import submit_lead
from referloop.integrations.models import Delivery, DeliveryState
from referloop.sandbox.config import DEMO_TENANT_ID

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def doctor(*args: str, stdout: io.StringIO | None = None) -> tuple[int, str]:
    out = stdout or io.StringIO()
    try:
        call_command("doctor", *args, stdout=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_a_healthy_campaign_prints_every_check_as_ok_and_exits_0(integration, tenant, running_worker) -> None:
    code, output = doctor(tenant.campaign.slug)

    assert code == 0
    lines = output.splitlines()
    assert lines[0] == (
        f"referloop doctor: ServiceTitan for “Comfort Pro referrals” (comfort-pro): Sandbox (local), tenant "
        f"{DEMO_TENANT_ID}, Connected"
    )
    assert f"ok        Credentials              ServiceTitan issued a token for tenant {DEMO_TENANT_ID}" in output
    assert "ok        Worker                   The worker is running: 1 process" in output
    assert lines[-1] == "0 problems, 0 warnings, 12 ok."
    assert "\x1b[" not in output  # not a terminal: no colour codes


def test_a_problem_prints_the_sentence_and_the_fix_and_exits_1(integration, tenant, running_worker) -> None:
    integration.client_secret = "cs.wrong"
    integration.save()

    code, output = doctor(tenant.campaign.slug)

    assert code == 1
    assert (
        f"problem   Credentials              ServiceTitan rejected the Client ID and Client Secret for tenant "
        f"{DEMO_TENANT_ID} in Sandbox (local)." in output
    )
    assert (
        "Fix: In ServiceTitan open Settings → Integrations → API Application Access, open the referloop app" in output
    )
    assert "skipped   App Key                  Skipped: it needs working credentials first (see Credentials)." in output
    assert output.splitlines()[-1] == "1 problem, 0 warnings, 8 ok, 3 skipped."


def test_warnings_alone_still_exit_0(integration, tenant, running_worker) -> None:
    lead = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Ann", "email": "ann@example.com"}).lead
    Delivery.objects.filter(lead=lead).update(
        state=DeliveryState.PENDING,
        attempt_count=2,
        last_error="ServiceTitan had a server error (HTTP 503) while trying to create a booking.",
        next_attempt_at=timezone.now() + timedelta(minutes=2),
    )

    code, output = doctor(tenant.campaign.slug, "--offline")

    assert code == 0
    assert "warning   Deliveries (24 hours)    1 delivery is being retried after a temporary error" in output


def test_json_output_has_every_check_with_status_sentence_fix_and_link(integration, tenant, running_worker) -> None:
    integration.booking_provider_id = 777
    integration.save()

    code, output = doctor(tenant.campaign.slug, "--json")

    assert code == 1
    data = json.loads(output)
    assert data["ok"] is False
    assert data["campaign"] == {"id": tenant.campaign.pk, "slug": "comfort-pro", "name": "Comfort Pro referrals"}
    checks = {c["key"]: c for c in data["integrations"][0]["checks"]}
    assert len(checks) == 12
    assert checks["booking_provider"]["status"] == "problem"
    assert checks["booking_provider"]["sentence"] == (
        f"Booking Provider Value 777 was not found for tenant {DEMO_TENANT_ID} in Sandbox (local)."
    )
    assert (
        checks["booking_provider"]["fix_url"]
        == f"/campaigns/{tenant.campaign.pk}/integrations/servicetitan/connection/"
    )
    assert data["integrations"][0]["counts"] == {"ok": 11, "warning": 0, "problem": 1, "skipped": 0}


def test_colours_only_on_a_terminal_and_never_with_no_color(integration, tenant, running_worker, monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    _, coloured = doctor(tenant.campaign.slug, "--offline", stdout=Terminal())
    monkeypatch.setenv("NO_COLOR", "1")
    _, plain = doctor(tenant.campaign.slug, "--offline", stdout=Terminal())

    assert "\x1b[32mok" in coloured
    assert "\x1b[" not in plain


def test_offline_skips_the_servicetitan_checks(integration, tenant, running_worker) -> None:
    code, output = doctor(tenant.campaign.slug, "--offline")

    assert code == 0
    assert "skipped   Credentials              Not checked yet: this check asks ServiceTitan." in output


def test_a_campaign_without_an_integration_is_a_problem(tenant) -> None:
    code, output = doctor(tenant.campaign.slug)

    assert code == 1
    assert "This campaign has no CRM integration, so no leads are sent anywhere." in output


def test_an_unknown_campaign_slug_is_a_usage_error_with_exit_code_2(db) -> None:
    with pytest.raises(CommandError) as error:
        call_command("doctor", "no-such-campaign")

    assert str(error.value) == "No campaign has the slug 'no-such-campaign'."
    assert error.value.returncode == 2


def test_the_referloop_command_exits_1_on_a_problem_and_2_on_an_unknown_campaign_as_a_real_process(
    tmp_path,
) -> None:
    env = {**os.environ, "REFERLOOP_VAR_DIR": str(tmp_path), "NO_COLOR": "1"}
    env.pop("DATABASE_URL", None)  # its own SQLite file under tmp_path
    referloop = [sys.executable, "-m", "referloop"]
    subprocess.run([*referloop, "migrate", "-v0"], env=env, check=True, timeout=120)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from referloop.runtime.demo import create_demo; create_demo()",
        ],
        env={**env, "DJANGO_SETTINGS_MODULE": "referloop.settings"},
        check=True,
        timeout=60,
    )

    doctor_run = subprocess.run(
        [*referloop, "doctor", "refer-a-neighbor", "--offline"], env=env, capture_output=True, text=True, timeout=60
    )
    unknown = subprocess.run(
        [*referloop, "doctor", "no-such-campaign"], env=env, capture_output=True, text=True, timeout=60
    )

    assert doctor_run.returncode == 1
    assert "problem   Worker                   The worker is not running" in doctor_run.stdout
    assert doctor_run.stdout.splitlines()[-1] == "1 problem, 0 warnings, 7 ok, 4 skipped."
    assert unknown.returncode == 2
    assert "No campaign has the slug 'no-such-campaign'." in unknown.stderr
