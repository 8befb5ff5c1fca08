"""The sandbox's small parts on their own: config checks, the rate window, seeded chaos, the command line, the
state's clock and amounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from referloop.sandbox import SandboxConfig, TenantConfig
from referloop.sandbox import server as server_module
from referloop.sandbox.chaos import Chaos
from referloop.sandbox.ratelimit import SlidingWindowLimiter
from referloop.sandbox.runtime import Sandbox
from referloop.sandbox.state import JOB_STATUSES, Booking, SandboxState, job_status, money


def test_demo_config_has_the_documented_credentials() -> None:
    config = SandboxConfig.demo()

    tenant = config.tenant(1234567)
    assert tenant is not None
    assert (tenant.client_id, tenant.client_secret) == ("cid.referloop-demo", "cs.referloop-demo-secret")
    assert [(p.id, p.name) for p in tenant.booking_providers] == [(42, "referloop")]
    assert config.app_keys == ["ak1.referloop-sandbox-app-key"]
    assert config.rate_limit_per_second == 60
    assert config.token_lifetime_seconds == 900


def test_config_update_checks_every_change_before_applying_any() -> None:
    config = SandboxConfig.demo()

    with pytest.raises(ValueError, match="hang_rate must be between 0 and 1"):
        config.update({"latency_ms": 10, "hang_rate": -0.1})

    assert config.latency_ms == 0.0


@pytest.mark.parametrize(
    ("knob", "value"),
    [("error_rate", "0.5"), ("jitter_ms", -1), ("rate_limit_per_second", 0), ("seed", 1.5), ("app_keys", "ak1")],
)
def test_config_update_refuses_values_of_the_wrong_kind(knob: str, value: object) -> None:
    with pytest.raises(ValueError, match=knob):
        SandboxConfig.demo().update({knob: value})


def test_putting_a_tenant_replaces_the_one_with_the_same_id() -> None:
    config = SandboxConfig.demo()

    config.put_tenant(TenantConfig(1234567, "cid.new", "cs.new"))

    assert [t.client_id for t in config.tenants] == ["cid.new"]


def test_sliding_window_allows_the_limit_per_second_and_says_when_to_retry() -> None:
    now = [100.0]
    limiter = SlidingWindowLimiter(clock=lambda: now[0])

    allowed = [limiter.acquire("t", 3) for _ in range(3)]
    refused = limiter.acquire("t", 3)
    other_key = limiter.acquire("u", 3)
    now[0] = 100.999
    still_refused = limiter.acquire("t", 3)
    now[0] = 101.0

    assert allowed == [None, None, None]
    assert refused == 1
    assert other_key is None
    assert still_refused == 1
    assert limiter.acquire("t", 3) is None
    assert limiter.acquire("t", None) is None


def test_the_same_seed_gives_the_same_faults_and_setting_it_replays_them() -> None:
    config = SandboxConfig.demo(error_rate=0.5, seed=42)
    first, second = Chaos(config), Chaos(config)
    sandbox = Sandbox(config)
    sandbox.chaos.injected_error()

    runs = [[chaos.injected_error() for _ in range(50)] for chaos in (first, second)]
    sandbox.set_knobs({"seed": 42})
    replay = [sandbox.chaos.injected_error() for _ in range(50)]

    assert runs[0] == runs[1] == replay
    assert set(runs[0]) == {500, 503, None}


def test_the_command_line_turns_flags_into_knobs(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[str, int, SandboxConfig | None]] = []
    monkeypatch.setattr(server_module, "run", lambda host, port, config: started.append((host, port, config)))

    server_module.main(["--port", "8711", "--latency-ms", "20", "--error-rate", "0.1", "--rate-limit", "0"])

    host, port, config = started[0]
    assert (host, port) == ("127.0.0.1", 8711)
    assert config is not None
    assert (config.latency_ms, config.error_rate, config.rate_limit_per_second) == (20.0, 0.1, None)


def test_the_command_line_refuses_a_bad_knob(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        server_module.main(["--error-rate", "3"])

    assert "error_rate must be between 0 and 1" in capsys.readouterr().err


def test_changes_get_later_modified_on_even_when_the_wall_clock_stands_still_or_steps_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = SandboxState()
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    booking = Booking(
        tenant_id=1,
        booking_provider_id=1,
        source="referloop",
        name="Ann",
        summary=None,
        external_id="lead-1",
        is_first_time_client=True,
        start=now,
        created_on=now,
        modified_on=now,
    )
    state.add_booking(booking, [])
    clock = iter([now, now, now - timedelta(hours=1), now - timedelta(hours=1)])
    monkeypatch.setattr("referloop.sandbox.state.utc_now", lambda: next(clock))

    _, job, invoice = state.convert_to_job(booking.id, "10")
    stamps = [job.modified_on]
    state.set_job_status(job.id, "InProgress")
    stamps.append(job.modified_on)
    state.pay_invoice(invoice.id, "4")
    stamps.append(invoice.modified_on)
    state.set_job_total(job.id, "12")
    stamps.append(job.modified_on)

    assert stamps == sorted(set(stamps))
    assert stamps[0] > now


@pytest.mark.parametrize(
    ("value", "amount"), [("480.5", "480.50"), (12, "12.00"), (0.1, "0.10"), (Decimal("3.456"), "3.46")]
)
def test_amounts_of_money_are_kept_to_the_cent(value: object, amount: str) -> None:
    assert money(value) == Decimal(amount)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["-1", "abc", "NaN", "Infinity", "1e99999", True])
def test_what_is_not_an_amount_of_money_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="amount of money"):
        money(value)  # type: ignore[arg-type]


def test_job_statuses_match_regardless_of_case_and_nothing_else_does() -> None:
    assert [job_status(s.upper()) for s in JOB_STATUSES] == list(JOB_STATUSES)
    with pytest.raises(ValueError, match="not a job status"):
        job_status("Done")
