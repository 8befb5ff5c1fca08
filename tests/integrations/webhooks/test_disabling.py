"""Endpoint health: the failure streak, disabling after five days (or at once on 410 Gone), one email, and enabling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from referloop.integrations.models import AttemptOutcome, Delivery, DeliveryState
from referloop.integrations.webhooks import service
from referloop.integrations.webhooks.events import LEAD_CREATED
from referloop.integrations.webhooks.models import WebhookEndpoint
from referloop.integrations.webhooks.outbox import DISABLED_PREFIX
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead, make_due_now
from tests.integrations.webhooks.helpers import all_finished, deliveries_of, run_until, subscribe
from tests.integrations.webhooks.receiver import Reply, receiving

pytestmark = pytest.mark.django_db(transaction=True)


def one_try_written(endpoint: WebhookEndpoint, count: int = 1):
    def written() -> bool:
        return Delivery.objects.filter(endpoint=endpoint, attempts__isnull=False, leased_by="").count() >= count

    return written


def test_a_first_failure_starts_the_streak_and_a_success_ends_it(tenant: Tenant) -> None:
    with receiving([Reply(500)]) as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        add_lead(tenant.campaign, tenant.referrer)
        run_until(one_try_written(created.endpoint))
        endpoint = WebhookEndpoint.objects.get(pk=created.endpoint.pk)
        assert endpoint.failing_since is not None and endpoint.enabled

        make_due_now()
        run_until(all_finished(created.endpoint))

    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    assert [d.state for d in deliveries_of(endpoint)] == [DeliveryState.DELIVERED]


def test_after_five_days_of_failures_another_failure_disables_the_endpoint_holds_its_events_and_emails_once(
    tenant: Tenant,
) -> None:
    with receiving(default=Reply(503, "still down")) as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        six_days_ago = timezone.now() - timedelta(days=6)
        WebhookEndpoint.objects.filter(pk=created.endpoint.pk).update(failing_since=six_days_ago)
        add_lead(tenant.campaign, tenant.referrer)
        add_lead(tenant.campaign, tenant.referrer)
        run_until(one_try_written(created.endpoint, 2))  # both go out in the worker's first claim

        endpoint = WebhookEndpoint.objects.get(pk=created.endpoint.pk)
        assert endpoint.enabled is False and endpoint.disabled_at is not None
        assert "Every try to send it an event has failed for 5 days" in endpoint.disabled_reason
        assert "503 Service Unavailable" in endpoint.disabled_reason
        assert endpoint.failing_since == six_days_ago  # the streak's start is kept

        later = add_lead(tenant.campaign, tenant.referrer)
        make_due_now()
        # A worker finds every row of the endpoint held, or holds it: nothing more is sent.
        run_until(lambda: not Delivery.objects.filter(endpoint=endpoint, state=DeliveryState.PENDING).exists())

    rows = deliveries_of(endpoint)
    assert [row.state for row in rows] == [DeliveryState.HELD] * 3
    assert all(row.reason.startswith(DISABLED_PREFIX + "Every try") for row in rows)
    assert rows[-1].event is not None and rows[-1].event.payload["lead"]["id"] == later.pk
    assert len(receiver.received) == 2
    [email] = mail.outbox
    assert email.to == [tenant.user.email]
    assert email.subject == f"[referloop] Webhook endpoint disabled: {receiver.url}"
    assert "Every try to send it an event has failed for 5 days" in email.body
    assert "held" in email.body
    assert f"{settings.PUBLIC_BASE_URL}/account/webhooks/{endpoint.pk}/" in email.body  # the endpoint's own page


def test_a_failure_four_days_into_a_streak_keeps_the_endpoint_enabled(tenant: Tenant) -> None:
    with receiving(default=Reply(500)) as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        WebhookEndpoint.objects.filter(pk=created.endpoint.pk).update(failing_since=timezone.now() - timedelta(days=4))
        add_lead(tenant.campaign, tenant.referrer)
        run_until(one_try_written(created.endpoint))

    assert WebhookEndpoint.objects.get(pk=created.endpoint.pk).enabled is True
    assert mail.outbox == []


def test_a_410_gone_disables_the_endpoint_at_once(tenant: Tenant) -> None:
    with receiving(default=Reply(410, "unsubscribed")) as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        add_lead(tenant.campaign, tenant.referrer)
        run_until(one_try_written(created.endpoint))

    endpoint = WebhookEndpoint.objects.get(pk=created.endpoint.pk)
    assert endpoint.enabled is False and "410 Gone" in endpoint.disabled_reason
    [delivery] = deliveries_of(endpoint)
    assert delivery.state == DeliveryState.FAILED
    assert delivery.attempts.get().outcome == AttemptOutcome.PERMANENT
    assert len(mail.outbox) == 1


def test_enabling_forgets_the_streak_and_sends_the_held_events(tenant: Tenant) -> None:
    with receiving() as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        service.disable_endpoint(tenant.account, created.endpoint.pk)
        WebhookEndpoint.objects.filter(pk=created.endpoint.pk).update(failing_since=timezone.now() - timedelta(days=9))
        add_lead(tenant.campaign, tenant.referrer)
        add_lead(tenant.campaign, tenant.referrer)
        assert [d.state for d in deliveries_of(created.endpoint)] == [DeliveryState.HELD] * 2

        assert service.enable_endpoint(tenant.account, created.endpoint.pk) == 2
        run_until(all_finished(created.endpoint))

    endpoint = WebhookEndpoint.objects.get(pk=created.endpoint.pk)
    assert endpoint.enabled and endpoint.failing_since is None and endpoint.disabled_reason == ""
    assert [d.state for d in deliveries_of(endpoint)] == [DeliveryState.DELIVERED] * 2
    assert len(receiver.received) == 2


def test_enabling_without_the_backlog_marks_the_held_events_skipped(tenant: Tenant) -> None:
    with receiving() as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        service.disable_endpoint(tenant.account, created.endpoint.pk)
        add_lead(tenant.campaign, tenant.referrer)
        assert service.enable_endpoint(tenant.account, created.endpoint.pk, send_held=False) == 0
        add_lead(tenant.campaign, tenant.referrer)
        run_until(all_finished(created.endpoint))

    assert [d.state for d in deliveries_of(created.endpoint)] == [DeliveryState.SKIPPED, DeliveryState.DELIVERED]
    assert len(receiver.received) == 1


def test_a_test_event_goes_even_to_a_disabled_endpoint(tenant: Tenant) -> None:
    with receiving() as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        service.disable_endpoint(tenant.account, created.endpoint.pk)
        delivery = service.send_test_event(tenant.account, created.endpoint.pk)
        run_until(all_finished(created.endpoint))

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED
    [got] = receiver.received
    assert got.json()["type"] == "webhook.test" and got.verifies_with(created.secret)
    assert WebhookEndpoint.objects.get(pk=created.endpoint.pk).enabled is False
