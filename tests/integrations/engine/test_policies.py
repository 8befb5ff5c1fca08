"""The engine's pure parts: the retry schedule, the paced bucket, sharing a claim between tenants, wire pacing."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from referloop.integrations.engine.claim import share
from referloop.integrations.engine.pacing import PacedSender
from referloop.integrations.engine.ratelimit import RateLimit, available, grant
from referloop.integrations.engine.retry import RetryPolicy
from referloop.integrations.models import AttemptOutcome
from referloop.providers.base import Outcome
from referloop.providers.transport import Answer, BufferedAnswer, Outgoing

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_the_retry_schedule_is_10s_30s_2min_10min_30min_1h_then_every_3h() -> None:
    policy = RetryPolicy(jitter=0.0)
    assert [policy.delay(n) for n in range(1, 10)] == [10, 30, 120, 600, 1800, 3600, 10800, 10800, 10800]


def test_jitter_keeps_each_delay_within_a_fifth_of_the_schedule() -> None:
    policy = RetryPolicy()
    rng = random.Random(3)
    delays = [policy.delay(1, rng=rng) for _ in range(500)]
    assert 8.0 <= min(delays) < 8.5 and 11.5 < max(delays) <= 12.0


def test_retry_after_is_a_floor_never_a_shortcut() -> None:
    policy = RetryPolicy(jitter=0.0)
    assert policy.delay(1, retry_after=45.0) == 45.0
    assert policy.delay(3, retry_after=5.0) == 120.0


def test_retries_stop_24_hours_after_the_first_try_with_a_last_try_at_the_mark() -> None:
    policy = RetryPolicy(jitter=0.0)
    first = NOW - timedelta(hours=23, minutes=30)
    assert policy.next_attempt(now=NOW, first_attempt_at=first, failures=9) == first + timedelta(hours=24)
    assert policy.next_attempt(now=first + timedelta(hours=24), first_attempt_at=first, failures=10) is None
    assert policy.next_attempt(now=NOW, first_attempt_at=NOW, failures=1) == NOW + timedelta(seconds=10)


def test_the_bucket_hands_out_send_times_one_interval_apart_within_the_horizon() -> None:
    limit = RateLimit(per_second=60, headroom=1.0, horizon=0.5)
    times, next_slot = grant(0.0, 100.0, [1] * 40, limit)
    assert len(times) == 30 == available(0.0, 100.0, limit)
    assert times[0] == 100.0
    assert times[1] - times[0] == pytest.approx(1 / 60)
    assert next_slot == pytest.approx(100.5)
    assert available(next_slot, 100.0, limit) == 0
    # a quarter of a second later, a quarter second's worth of slots has come free
    assert available(next_slot, 100.25, limit) == 15


def test_a_row_that_needs_a_lookup_first_takes_two_slots() -> None:
    limit = RateLimit(per_second=10, headroom=1.0, horizon=1.0)
    times, next_slot = grant(0.0, 0.0, [2, 1, 2], limit)
    assert times == pytest.approx([0.0, 0.2, 0.3])
    assert next_slot == pytest.approx(0.5)


def test_an_idle_tenants_first_call_goes_at_once_but_never_earlier_than_its_budget() -> None:
    limit = RateLimit(per_second=60)
    assert grant(5.0, 10.0, [1], limit)[0] == [10.0]
    assert grant(10.2, 10.0, [1], limit)[0] == [10.2]


def test_sharing_a_claim_gives_a_quiet_tenant_its_row_next_to_a_big_backlog() -> None:
    assert share({"busy": 30, "quiet": 1}, 8, ["busy", "quiet"]) == {"busy": 7, "quiet": 1}
    assert share({"a": 30, "b": 30}, 10, ["a", "b"]) == {"a": 5, "b": 5}
    assert share({"a": 2, "b": 30, "c": 30}, 12, ["a", "b", "c"]) == {"a": 2, "b": 5, "c": 5}
    assert share({"a": 5, "b": 5, "c": 5}, 2, ["c", "a", "b"]) == {"a": 1, "b": 0, "c": 1}
    assert share({"a": 3}, 100, ["a"]) == {"a": 3}


def _call(url: str, *, paced: bool = True) -> Outgoing:
    return Outgoing("POST", url, headers={}, timeout=httpx.Timeout(5.0), paced=paced)


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, float]] = []

    async def send(self, request: Outgoing) -> Answer:
        self.sent.append((request.url, time.monotonic()))
        return BufferedAnswer(200, {}, b"{}")

    async def aclose(self) -> None:
        pass


def test_the_wire_spaces_one_rate_keys_calls_but_not_another_keys_or_unpaced_token_calls() -> None:
    recorder = _Recorder()
    sender = PacedSender(recorder, calls_per_second=50)  # 20 ms apart

    async def burst() -> None:
        one, two = sender.for_key("production:1:app"), sender.for_key("production:2:app")
        calls = [one.send(_call("http://h/crm/v2/tenant/1/bookings")) for _ in range(5)]
        calls += [two.send(_call("http://h/crm/v2/tenant/2/bookings"))]
        calls += [one.send(_call("http://h/connect/token", paced=False))]
        await asyncio.gather(*calls)

    asyncio.run(burst())
    tenant_one = [at for url, at in recorder.sent if "/tenant/1/" in url]
    # The grid guarantees each planned send is at least one interval after the previous one's plan, so five
    # calls span at least four intervals however late the event loop wakes (real time: allow 10 ms of it).
    # Exact gaps between wake-ups are the scheduler's, so they are not asserted.
    assert len(tenant_one) == 5
    assert tenant_one[-1] - tenant_one[0] >= 4 * 0.020 - 0.010
    assert all(later > earlier for earlier, later in itertools.pairwise(tenant_one))
    # Not queued behind tenant 1: another key's call and an unpaced token call go out before tenant 1's second.
    order = [url for url, _ in recorder.sent]
    second_of_one = [i for i, url in enumerate(order) if "/tenant/1/" in url][1]
    assert order.index("http://h/crm/v2/tenant/2/bookings") < second_of_one
    assert order.index("http://h/connect/token") < second_of_one
    assert sender.waits == 4


def test_the_connectors_outcomes_and_the_attempt_rows_outcomes_are_the_same_values() -> None:
    # Two names for one set: the connectors' (no Django) and the Attempt column's choices (with labels).
    assert sorted(outcome.value for outcome in Outcome) == sorted(AttemptOutcome.values)
