"""Over real HTTP to the sandbox: what the engine does when ServiceTitan fails, stalls, refuses or drops."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from referloop.integrations.models import (
    AttemptOutcome,
    ConnectionState,
    Delivery,
    DeliveryState,
    Integration,
    IntegrationChange,
    TenantBucket,
)
from referloop.integrations.servicetitan import outbox
from referloop.integrations.servicetitan.credentials import credentials_for
from referloop.providers.servicetitan import ServiceTitanClient, TokenCache
from referloop.providers.servicetitan import connector as connector_module
from tests.conftest import Tenant
from tests.integrations.engine.helpers import (
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    OTHER_PROVIDER_ID,
    OTHER_TENANT_ID,
    SHORT_TIMEOUT,
    add_lead,
    booking_counts,
    connect,
    drain,
    make_due_now,
    no_retry_wait,
)

pytestmark = pytest.mark.django_db(transaction=True)


def warm_token(integration: Integration) -> TokenCache:
    """A token fetched before the fault is switched on, so the fault hits the booking call itself."""
    cache = TokenCache()
    with ServiceTitanClient(credentials_for(integration), token_cache=cache) as client:
        client.fetch_token()
    return cache


def outcomes(delivery: Delivery) -> list[str]:
    return list(delivery.attempts.order_by("number").values_list("outcome", flat=True))


def test_a_server_error_is_retried_about_ten_seconds_later_then_delivered_once(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    cache = warm_token(integration)
    lead = add_lead(tenant.campaign, tenant.referrer)
    sandbox.set(error_rate=1.0)

    before = timezone.now()
    drain(token_cache=cache)

    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.PENDING
    assert before + timedelta(seconds=8) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=12)
    attempt = delivery.attempts.get()
    assert attempt.outcome == AttemptOutcome.TRANSIENT
    assert attempt.response_status in (500, 503)
    assert "injected by the sandbox" in attempt.response_text
    assert delivery.last_error == attempt.sentence
    assert delivery.ambiguous is True  # a 5xx after the create went out: look it up before creating again

    sandbox.set(error_rate=0.0)
    make_due_now(delivery)
    drain(token_cache=cache)

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED
    assert outcomes(delivery) == [AttemptOutcome.TRANSIENT, AttemptOutcome.DELIVERED]
    second = delivery.attempts.get(number=2)
    assert [r["method"] for r in second.request_summary["requests"]] == ["GET", "POST"]
    assert booking_counts(sandbox) == {lead.code: 1}


def test_a_hung_create_is_looked_up_on_the_retry_and_the_booking_it_made_is_kept(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    cache = warm_token(integration)
    lead = add_lead(tenant.campaign, tenant.referrer)
    sandbox.set(hang_rate=1.0, hang_seconds=5.0)

    drain(token_cache=cache, timeout=SHORT_TIMEOUT)

    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.PENDING
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=5)
    assert delivery.ambiguous is True
    assert outcomes(delivery) == [AttemptOutcome.AMBIGUOUS]
    assert "did not answer within 1 seconds" in delivery.last_error

    sandbox.set(hang_rate=0.0)
    make_due_now(delivery)
    drain(token_cache=cache)

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED
    assert outcomes(delivery) == [AttemptOutcome.AMBIGUOUS, AttemptOutcome.FOUND_EXISTING]
    [booking] = sandbox.bookings()
    assert delivery.remote_id == booking.id
    assert booking_counts(sandbox) == {lead.code: 1}


def test_a_connection_dropped_after_the_create_makes_one_booking_not_two(tenant: Tenant, sandbox) -> None:
    connect(tenant.campaign)
    leads = [add_lead(tenant.campaign, tenant.referrer) for _ in range(3)]
    sandbox.set(drop_after_create_rate=1.0)

    drain(retry=no_retry_wait())

    for lead in leads:
        delivery = Delivery.objects.get(lead=lead)
        assert delivery.state == DeliveryState.DELIVERED
        assert outcomes(delivery) == [AttemptOutcome.AMBIGUOUS, AttemptOutcome.FOUND_EXISTING]
    assert booking_counts(sandbox) == {lead.code: 1 for lead in leads}
    assert sandbox.stats()["by_operation"]["Bookings_Create"] == {"dropped": 3}


def test_a_429_pauses_the_tenant_for_its_retry_after_and_every_lead_still_goes_once(tenant: Tenant, sandbox) -> None:
    connect(tenant.campaign)
    leads = [add_lead(tenant.campaign, tenant.referrer) for _ in range(5)]
    sandbox.set(rate_limit_per_second=2)

    drain(stop=lambda: not Delivery.objects.exclude(state=DeliveryState.DELIVERED).exists())

    assert sandbox.stats()["by_status"].get("429", 0) >= 1
    assert TenantBucket.objects.get().pauses >= 1
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == 5
    assert booking_counts(sandbox) == {lead.code: 1 for lead in leads}
    limited = Delivery.objects.filter(attempts__response_status=429, attempts__number=1).first()
    first = limited.attempts.get(number=1)
    assert first.outcome == AttemptOutcome.TRANSIENT
    assert "rate limit was reached" in first.sentence
    assert limited.attempts.order_by("number").last().outcome == AttemptOutcome.DELIVERED


def test_a_400_fails_at_once_and_keeps_servicetitans_own_words(tenant: Tenant, sandbox, monkeypatch) -> None:
    real_builder = connector_module.build_booking

    def body_servicetitan_rejects(*args, **kwargs):
        # Our builder only makes valid bodies; ServiceTitan can still refuse one (its rules change).
        built = real_builder(*args, **kwargs)
        return dataclasses.replace(built, body={**built.body, "referralNote": "from the engine test"})

    monkeypatch.setattr(connector_module, "build_booking", body_servicetitan_rejects)
    connect(tenant.campaign)
    lead = add_lead(tenant.campaign, tenant.referrer)

    drain()

    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.FAILED
    attempt = delivery.attempts.get()
    assert (attempt.outcome, attempt.response_status) == (AttemptOutcome.PERMANENT, 400)
    assert "referralNote: The property 'referralNote' is not allowed here" in attempt.response_text
    assert attempt.sentence.startswith("ServiceTitan could not create the booking because of these fields:")
    assert delivery.reason == attempt.sentence
    assert delivery.failed_at is not None
    assert sandbox.bookings() == []


def test_a_wrong_booking_provider_fails_with_the_fix_in_the_sentence(tenant: Tenant, sandbox) -> None:
    connect(tenant.campaign, provider_id=999)
    lead = add_lead(tenant.campaign, tenant.referrer)

    drain()

    delivery = Delivery.objects.get(lead=lead)
    attempt = delivery.attempts.get()
    assert (delivery.state, attempt.response_status) == (DeliveryState.FAILED, 404)
    assert "Booking provider 999 was not found" in attempt.response_text
    assert "check the Booking Provider Value" in attempt.sentence


def test_rejected_credentials_hold_the_leads_turn_the_integration_and_email_the_admins_once(
    tenant: Tenant, sandbox
) -> None:
    integration = connect(tenant.campaign, secret="cs.mistyped")
    first = [add_lead(tenant.campaign, tenant.referrer) for _ in range(3)]

    drain()

    integration.refresh_from_db()
    assert integration.state == ConnectionState.CREDENTIALS_REJECTED
    assert integration.needs_attention is True
    assert "rejected the client ID and secret" in integration.attention_reason
    for lead in first:
        delivery = Delivery.objects.get(lead=lead)
        assert delivery.state == DeliveryState.HELD
        assert delivery.reason == outbox.hold_reason(integration)
        assert delivery.attempts.get().outcome == AttemptOutcome.CREDENTIALS
    later = add_lead(tenant.campaign, tenant.referrer)
    assert Delivery.objects.get(lead=later).state == DeliveryState.HELD
    assert IntegrationChange.objects.filter(integration=integration, summary__contains="rejected").count() == 1
    [email] = mail.outbox
    assert email.to == [tenant.user.email]
    assert "rejected the credentials" in email.subject
    assert "held, not lost" in email.body
    assert sandbox.bookings() == []


def test_an_app_key_refused_after_a_token_refresh_counts_as_rejected_credentials(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    integration.own_app_key = "ak1.not-accepted-here"
    integration.save()
    lead = add_lead(tenant.campaign, tenant.referrer)

    drain()

    integration.refresh_from_db()
    assert integration.state == ConnectionState.CREDENTIALS_REJECTED
    attempt = Delivery.objects.get(lead=lead).attempts.get()
    assert (attempt.outcome, attempt.response_status) == (AttemptOutcome.CREDENTIALS, 401)
    # one try with the cached token, one with a fresh token, then no more
    assert sandbox.stats()["by_operation"]["Bookings_Create"] == {"401": 2}
    assert sandbox.stats()["by_operation"]["Token"] == {"200": 2}


def test_five_failed_deliveries_in_a_row_need_attention_and_email_once_until_one_succeeds(
    tenant: Tenant, sandbox
) -> None:
    integration = connect(tenant.campaign, provider_id=999)
    for _ in range(6):
        add_lead(tenant.campaign, tenant.referrer)

    drain()

    integration.refresh_from_db()
    assert Delivery.objects.filter(state=DeliveryState.FAILED).count() == 6
    assert (integration.consecutive_failures, integration.needs_attention) == (6, True)
    assert "Booking Provider Value" in integration.attention_reason
    [email] = mail.outbox
    assert "bookings are failing" in email.subject

    integration.booking_provider_id = 42
    integration.save()
    add_lead(tenant.campaign, tenant.referrer)
    drain()

    integration.refresh_from_db()
    assert (integration.consecutive_failures, integration.needs_attention, integration.attention_reason) == (
        0,
        False,
        "",
    )
    assert len(mail.outbox) == 1


def test_servicetitan_down_for_longer_than_the_attention_delay_needs_attention_and_emails_once(
    tenant: Tenant, sandbox
) -> None:
    """Nothing ends *failed* for a day of retries: the streak of retried tries is what tells the owner."""
    integration = connect(tenant.campaign)
    Integration.objects.filter(pk=integration.pk).update(connected_at=timezone.now() - timedelta(hours=1))
    cache = warm_token(integration)
    leads = [add_lead(tenant.campaign, tenant.referrer) for _ in range(6)]
    sandbox.set(error_rate=1.0)

    drain(token_cache=cache)

    integration.refresh_from_db()
    assert Delivery.objects.filter(state=DeliveryState.PENDING).count() == 6  # kept, to be retried
    assert (integration.consecutive_failures, integration.needs_attention) == (6, True)
    assert "No booking has gone through for 5 minutes" in integration.attention_reason
    [email] = mail.outbox
    assert "not taking bookings" in email.subject and "retried automatically" in email.body

    sandbox.set(error_rate=0.0)
    # Up the retry ladder, as after a long outage; the first booking after it brings the others' retries forward.
    Delivery.objects.filter(lead__in=leads).update(next_attempt_at=timezone.now() + timedelta(minutes=30))
    back = add_lead(tenant.campaign, tenant.referrer)
    drain(token_cache=cache)
    integration.refresh_from_db()
    assert (integration.consecutive_failures, integration.needs_attention) == (0, False)
    assert Delivery.objects.filter(lead__in=[*leads, back], state=DeliveryState.DELIVERED).count() == 7
    assert len(mail.outbox) == 1


def test_retried_failures_right_after_a_booking_went_through_are_a_blip_not_an_episode(
    tenant: Tenant, sandbox
) -> None:
    integration = connect(tenant.campaign)
    Integration.objects.filter(pk=integration.pk).update(connected_at=timezone.now() - timedelta(hours=1))
    cache = warm_token(integration)
    add_lead(tenant.campaign, tenant.referrer)
    drain(token_cache=cache)  # a booking went through a moment ago
    for _ in range(6):
        add_lead(tenant.campaign, tenant.referrer)
    sandbox.set(error_rate=1.0)

    drain(token_cache=cache)

    integration.refresh_from_db()
    assert integration.consecutive_failures == 6
    assert integration.needs_attention is False
    assert mail.outbox == []


def test_servicetitan_pacing_with_429s_is_never_an_episode(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    Integration.objects.filter(pk=integration.pk).update(connected_at=timezone.now() - timedelta(hours=1))
    cache = warm_token(integration)
    for _ in range(6):
        add_lead(tenant.campaign, tenant.referrer)
    sandbox.set(throttle_rate=1.0)

    drain(token_cache=cache, limit_seconds=5)

    integration.refresh_from_db()
    assert sandbox.stats()["by_operation"]["Bookings_Create"].get("429", 0) >= 1
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == 0
    assert (integration.consecutive_failures, integration.needs_attention) == (0, False)
    assert mail.outbox == []


class StuckMailBackend(BaseEmailBackend):
    """A mail server that takes the email only when the test lets it."""

    started = threading.Event()
    release = threading.Event()
    sent: ClassVar[list[EmailMessage]] = []

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        type(self).started.set()
        type(self).release.wait(timeout=20)
        type(self).sent.extend(email_messages)
        return len(email_messages)


def test_a_mail_server_that_hangs_does_not_hold_up_other_leads(
    tenant: Tenant, other_tenant: Tenant, sandbox, settings
) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.StuckMailBackend"
    StuckMailBackend.started.clear()
    StuckMailBackend.release.clear()
    StuckMailBackend.sent.clear()
    connect(tenant.campaign, secret="cs.mistyped")  # its first try is rejected: an alert email
    add_lead(tenant.campaign, tenant.referrer)
    healthy = connect(
        other_tenant.campaign,
        tenant_id=OTHER_TENANT_ID,
        client_id=OTHER_CLIENT_ID,
        secret=OTHER_CLIENT_SECRET,
        provider_id=OTHER_PROVIDER_ID,
    )
    later: list[int] = []
    delivered_while_stuck: list[bool] = []

    def stop() -> bool:  # runs in the worker's database thread after each flush
        if not StuckMailBackend.started.is_set():
            return False
        if not later:  # the email is stuck in the mail server now: new leads arrive
            later.extend(add_lead(other_tenant.campaign, other_tenant.referrer).pk for _ in range(3))
            return False
        done = Delivery.objects.filter(lead_id__in=later, state=DeliveryState.DELIVERED).count() == len(later)
        if done:
            delivered_while_stuck.append(not StuckMailBackend.sent)
            StuckMailBackend.release.set()
        return done

    drain(limit_seconds=20, stop=stop)

    assert delivered_while_stuck == [True]
    assert Delivery.objects.filter(integration=healthy, state=DeliveryState.DELIVERED).count() == 3
    [email] = StuckMailBackend.sent  # the worker waited for it before exiting
    assert "rejected the credentials" in email.subject
