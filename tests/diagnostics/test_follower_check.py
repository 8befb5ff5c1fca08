"""The Diagnose check for the follower: its last successful cycle against two poll intervals, the leads waiting
longer than that, the last error, and the doctor printing it. The clock is fixed (checks take `now`) except where
a real worker runs a real cycle against the sandbox."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Q
from django.utils import timezone

from referloop.campaigns.models import Lead, LeadStatus
from referloop.campaigns.outcomes import BY_HAND
from referloop.diagnostics import checks
from referloop.diagnostics.checks import cheap_checks, run_checks
from referloop.diagnostics.result import CheckResult, Status, has_problem
from referloop.integrations.models import (
    ConnectionState,
    Follow,
    FollowSync,
    Integration,
    QualificationRule,
    WorkerHeartbeat,
)
from referloop.runtime.demo import connect_demo_integration
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead, drain

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TITLE = "Following bookings in ServiceTitan"
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def production_interval(settings: Any) -> None:
    settings.FOLLOW_INTERVAL_SECONDS = 300.0  # the production default (30 s under DEBUG, which tests run with)


def follower_check(integration: Integration, now: datetime = NOW) -> CheckResult:
    [result] = [r for r in cheap_checks(integration, now=now) if r.key == "follower"]
    assert result.title == TITLE
    return result


def followed(
    integration: Integration,
    tenant: Tenant,
    started: timedelta,
    *,
    settled: bool = False,
    qualified: timedelta | None = None,
    by: str = QualificationRule.JOB_STATUS,
) -> Follow:
    """A lead whose booking the follower tracks since `started` before NOW (qualified `qualified` before NOW)."""
    n = next(_numbers)
    lead = Lead.objects.create(
        campaign=integration.campaign,
        referrer=tenant.referrer,
        first_name="Lee",
        email=f"followed{n}@example.com",
        status=LeadStatus.QUALIFIED if qualified is not None else LeadStatus.PENDING,
        qualified_at=NOW - qualified if qualified is not None else None,
        qualified_by_rule=by if qualified is not None else "",
    )
    return Follow.objects.create(
        integration=integration,
        lead=lead,
        booking_id=50_000 + n,
        started_at=NOW - started,
        follow_until=NOW - started + timedelta(days=90),
        settled_at=NOW - timedelta(minutes=1) if settled else None,
        settled_reason="The invoice is paid." if settled else "",
    )


def synced(integration: Integration, success: timedelta | None, error: str = "", error_at: timedelta | None = None):
    return FollowSync.objects.create(
        integration=integration,
        due_at=NOW + timedelta(minutes=5),
        last_success_at=NOW - success if success is not None else None,
        last_calls=2,
        last_error=error,
        last_error_at=NOW - error_at if error_at is not None else None,
    )


def test_a_follower_that_succeeded_within_two_intervals_is_ok_with_the_counts(integration, tenant) -> None:
    for minutes in (60, 45, 3):
        followed(integration, tenant, timedelta(minutes=minutes))
    followed(integration, tenant, timedelta(days=3), settled=True, qualified=timedelta(days=2))
    followed(integration, tenant, timedelta(days=50), settled=True, qualified=timedelta(days=40))  # too long ago
    followed(integration, tenant, timedelta(days=4), qualified=timedelta(days=1), by=BY_HAND)  # not the rule's
    synced(integration, success=timedelta(minutes=9, seconds=59))

    result = follower_check(integration)

    assert result.status == Status.OK
    assert result.sentence == (
        "4 bookings followed, last checked 9 minutes ago (Jan 1, 11:50 UTC); 1 lead qualified by the rule in the "
        "last 30 days."
    )
    assert result.data["open_follows"] == 4
    assert result.data["waiting"] == 0
    assert result.data["qualified_last_30_days"] == 1
    assert result.fix == ""


def test_with_no_booking_to_follow_the_check_is_ok_and_says_so(integration, tenant) -> None:
    result = follower_check(integration)

    assert result.status == Status.OK
    assert result.sentence == (
        "No booking to follow yet: the follower starts with the first booking created in ServiceTitan."
    )
    assert result.data["open_follows"] == 0


def test_when_every_followed_booking_is_settled_an_old_last_success_is_not_a_problem(integration, tenant) -> None:
    followed(integration, tenant, timedelta(days=20), settled=True, qualified=timedelta(days=10))
    followed(integration, tenant, timedelta(days=25), settled=True)
    synced(integration, success=timedelta(days=9))

    result = follower_check(integration)

    assert result.status == Status.OK
    assert result.sentence == (
        "No booking to follow now: all 2 followed bookings are settled (paid, dismissed, canceled or past the follow "
        "window); 1 lead qualified by the rule in the last 30 days."
    )


def test_a_follower_behind_by_more_than_two_intervals_is_a_problem_naming_the_waiting_leads_and_how_long(
    integration, tenant
) -> None:
    followed(integration, tenant, timedelta(hours=2))
    followed(integration, tenant, timedelta(minutes=30))
    followed(integration, tenant, timedelta(minutes=5))  # booked after the last success, within two intervals
    synced(integration, success=timedelta(minutes=25))

    result = follower_check(integration)

    assert result.status == Status.PROBLEM
    assert result.sentence == (
        "The follower is behind: the last successful check was 25 minutes ago (Jan 1, 11:35 UTC), longer than two "
        "poll intervals (10 minutes); 2 leads have waited longer than that for news from ServiceTitan (3 bookings "
        "followed, 0 leads qualified by the rule in the last 30 days)."
    )
    assert result.fix.startswith("Is a worker running? The follower runs inside it: start `referloop worker`")
    assert result.fix_url == ""  # a worker is started on the server, not on a screen
    assert result.data["waiting"] == 2
    assert has_problem(cheap_checks(integration, now=NOW))  # so the campaign page's banner shows it too


def test_a_follower_that_never_succeeded_is_a_problem_once_a_booking_has_waited_two_intervals(
    integration, tenant
) -> None:
    followed(integration, tenant, timedelta(minutes=8))
    assert follower_check(integration).status == Status.OK  # its first check is not due yet
    assert follower_check(integration).sentence == (
        "1 booking followed, not checked yet (the first check comes within 5 minutes of a booking); 0 leads "
        "qualified by the rule in the last 30 days."
    )

    result = follower_check(integration, now=NOW + timedelta(minutes=3))

    assert result.status == Status.PROBLEM
    assert result.sentence.startswith(
        "The follower is behind: no check has succeeded yet and the oldest booking has waited 11 minutes, longer "
        "than two poll intervals (10 minutes); 1 lead has waited longer than that"
    )


def test_a_stale_follower_with_an_error_names_the_error_and_links_to_the_connection_tab(integration, tenant) -> None:
    followed(integration, tenant, timedelta(hours=3))
    error = "ServiceTitan refused to let the app read jobs (HTTP 403)."
    synced(integration, success=timedelta(hours=2), error=error, error_at=timedelta(seconds=40))

    result = follower_check(integration)

    assert result.status == Status.PROBLEM
    assert result.sentence.endswith(f"The last try failed 40 seconds ago (Jan 1, 11:59 UTC): {error}")
    assert "the last successful check was 2 hours ago" in result.sentence
    assert result.fix.startswith("Fix the cause ServiceTitan gave")
    assert result.fix_url_name == "integration_connection"


def test_a_disconnected_integration_says_the_connections_fix(integration, tenant) -> None:
    followed(integration, tenant, timedelta(hours=3))
    integration.state = ConnectionState.DISCONNECTED
    integration.save()
    synced(
        integration,
        success=timedelta(hours=2),
        error="The ServiceTitan integration is disconnected: reconnect it to send held leads.",
        error_at=timedelta(minutes=1),
    )

    result = follower_check(integration)

    assert result.status == Status.PROBLEM
    assert result.fix == "The ServiceTitan integration is disconnected: reconnect it to send held leads."
    assert result.fix_url_name == "integration_connection"


def test_a_recent_error_after_a_recent_success_is_a_warning_with_the_error(integration, tenant) -> None:
    followed(integration, tenant, timedelta(hours=1))
    error = "ServiceTitan had a server error (HTTP 503) while trying to list changed jobs"
    synced(integration, success=timedelta(minutes=4), error=error, error_at=timedelta(seconds=30))

    result = follower_check(integration)

    assert result.status == Status.WARNING
    assert result.sentence == (
        "1 booking followed, last checked 4 minutes ago (Jan 1, 11:56 UTC), but the latest try did not finish. The "
        f"last try failed 30 seconds ago (Jan 1, 11:59 UTC): {error}."
    )
    assert result.fix.startswith("Nothing to do if it passes: the follower tries again within a minute")
    assert result.data["last_error"] == error


def test_the_interval_setting_sets_the_two_interval_limit(integration, tenant, settings: Any) -> None:
    followed(integration, tenant, timedelta(hours=1))
    synced(integration, success=timedelta(minutes=3))
    assert follower_check(integration).status == Status.OK  # within two intervals of 300 s

    settings.FOLLOW_INTERVAL_SECONDS = 60
    result = follower_check(integration)

    assert result.status == Status.PROBLEM
    assert "longer than two poll intervals (2 minutes)" in result.sentence


def test_only_the_integrations_own_follows_are_counted(integration, tenant, other_tenant) -> None:
    theirs = connect_demo_integration(other_tenant.campaign)
    followed(theirs, other_tenant, timedelta(hours=1))
    synced(theirs, success=timedelta(hours=1))

    assert follower_check(theirs).status == Status.PROBLEM
    result = follower_check(integration)
    assert result.status == Status.OK
    assert result.data["open_follows"] == 0


def test_the_follower_check_needs_no_servicetitan_call(integration, tenant, sandbox, running_worker) -> None:
    followed(integration, tenant, timedelta(hours=1))
    synced(integration, success=timedelta(minutes=1))
    mark = sandbox.mark()

    follower_check(integration)

    assert sandbox.calls(since=mark) == []


def test_the_doctor_prints_the_follower_check_and_exits_1_when_it_is_behind(integration, tenant) -> None:
    WorkerHeartbeat.objects.create(worker_id="w1", hostname="app-1", pid=7, seen_at=timezone.now())
    followed(integration, tenant, timedelta(hours=1))
    FollowSync.objects.create(integration=integration, last_success_at=timezone.now() - timedelta(minutes=40))
    Follow.objects.update(started_at=timezone.now() - timedelta(hours=1))
    out = io.StringIO()

    with pytest.raises(SystemExit) as exit_:
        call_command("doctor", tenant.campaign.slug, "--offline", stdout=out)

    assert exit_.value.code == 1
    lines = out.getvalue().splitlines()
    at = lines.index(f"problem   {TITLE}")
    assert lines[at + 1].startswith(" " * 35 + "The follower is behind: the last successful check was 40 minutes ago")
    assert "1 lead has waited longer than that for news from ServiceTitan" in lines[at + 1]
    assert lines[at + 2].startswith(" " * 35 + "Fix: Is a worker running?")
    assert lines[-1] == "1 problem, 0 warnings, 7 ok, 4 skipped."


def test_the_doctor_prints_a_healthy_follower_as_ok(integration, tenant, running_worker) -> None:
    out = io.StringIO()
    call_command("doctor", tenant.campaign.slug, "--offline", stdout=out)

    lines = out.getvalue().splitlines()
    at = lines.index(f"ok        {TITLE}")
    assert lines[at + 1] == " " * 35 + (
        "No booking to follow yet: the follower starts with the first booking created in ServiceTitan."
    )


@pytest.mark.django_db(transaction=True)
def test_a_real_follower_cycle_makes_the_check_ok_and_a_stopped_one_makes_it_a_problem(
    tenant: Tenant, sandbox: Any, settings: Any
) -> None:
    settings.FOLLOW_INTERVAL_SECONDS = 1.0
    integration = connect_demo_integration(tenant.campaign)
    add_lead(tenant.campaign, tenant.referrer)
    drain()
    assert Follow.objects.filter(integration=integration, settled_at__isnull=True).count() == 1
    started = timezone.now()
    FollowSync.objects.update(due_at=started)

    def cycled() -> bool:
        return FollowSync.objects.filter(Q(last_success_at__gte=started) | Q(last_error_at__gte=started)).exists()

    drain(stop=cycled, follow_tick=0.05)
    sync = FollowSync.objects.get(integration=integration)
    assert sync.last_success_at is not None and sync.last_success_at >= started, sync.last_error

    healthy = follower_check(integration, now=sync.last_success_at + timedelta(milliseconds=500))
    assert healthy.status == Status.OK
    assert healthy.sentence.startswith("1 booking followed, last checked 0 seconds ago")
    assert [r.key for r in run_checks(integration, network=False)][-1] == "follower"

    later = sync.last_success_at + timedelta(seconds=5)  # no worker ran for five intervals
    Follow.objects.filter(integration=integration).update(started_at=sync.last_success_at - timedelta(seconds=1))
    behind = follower_check(integration, now=later)
    assert behind.status == Status.PROBLEM
    assert "longer than two poll intervals (2 seconds); 1 lead has waited longer than that" in behind.sentence


def test_the_followed_bookings_and_qualified_leads_past_the_cap_read_as_n_plus(
    integration, tenant, monkeypatch
) -> None:
    monkeypatch.setattr(checks, "CAP", 2)
    for minutes in (60, 45, 3):
        followed(integration, tenant, timedelta(minutes=minutes), qualified=timedelta(days=1))
    synced(integration, success=timedelta(minutes=1))

    result = follower_check(integration)

    assert result.sentence == (
        "2+ bookings followed, last checked 60 seconds ago (Jan 1, 11:59 UTC); 2+ leads qualified by the rule in the "
        "last 30 days."
    )
    assert (result.data["open_follows"], result.data["qualified_last_30_days"]) == (2, 2)
    assert result.data["capped"] == ["open_follows", "qualified_last_30_days"]
