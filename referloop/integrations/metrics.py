"""Prometheus metrics of the delivery engine, read from the database at scrape time.

The workers are separate processes (on separate machines, even), so per-process counters would each hold a
piece of the truth. The database holds all of it: every scrape counts rows. prometheus-client does the text
format; this module only says what to count. Each query is one aggregate (the oldest due delivery is one index
seek per tenant), so a scrape stays cheap while the queue is long.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from referloop.integrations.engine.queries import pending_rate_keys
from referloop.integrations.models import (
    Attempt,
    AttemptOutcome,
    Delivery,
    DeliveryState,
    TenantBucket,
)
from referloop.integrations.workers import alive as workers_alive

# Join-to-booking latency buckets (seconds): the target is about a second; retries stretch it to hours.
LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 6 * 3600.0, 24 * 3600.0)


class DeliveryCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        yield deliveries_by_state()
        yield attempts_by_outcome()
        yield join_to_booking_latency()
        yield from queue()
        yield from rate_limit()
        yield workers()


def deliveries_by_state() -> Metric:
    family = GaugeMetricFamily("referloop_deliveries", "Deliveries by state.", labels=["state"])
    counts = dict(
        Delivery.objects.order_by().values_list("state").annotate(count=Count("id")).values_list("state", "count")
    )
    for state in DeliveryState.values:
        family.add_metric([state], counts.get(state, 0))
    return family


def attempts_by_outcome() -> Metric:
    family = CounterMetricFamily(
        "referloop_delivery_attempts", "Tries to send a delivery, by outcome.", labels=["outcome"]
    )
    counts = dict(
        Attempt.objects.order_by().values_list("outcome").annotate(count=Count("id")).values_list("outcome", "count")
    )
    for outcome in AttemptOutcome.values:
        family.add_metric([outcome], counts.get(outcome, 0))
    return family


def join_to_booking_latency() -> Metric:
    """From the lead's creation to its booking's confirmation, for every delivered lead (webhook events aside)."""
    latency = ExpressionWrapper(F("delivered_at") - F("lead__created_at"), output_field=DurationField())
    rows = Delivery.objects.filter(
        state=DeliveryState.DELIVERED, delivered_at__isnull=False, lead__isnull=False
    ).annotate(latency=latency)
    aggregates: dict[str, Any] = {
        f"le_{index}": Count("id", filter=Q(latency__lte=timedelta(seconds=bound)))
        for index, bound in enumerate(LATENCY_BUCKETS)
    }
    totals = rows.aggregate(count=Count("id"), total=Sum("latency"), **aggregates)
    buckets = [(floatToGoString(bound), totals[f"le_{index}"]) for index, bound in enumerate(LATENCY_BUCKETS)]
    buckets.append(("+Inf", totals["count"]))
    total = totals["total"]
    return HistogramMetricFamily(
        "referloop_join_to_booking_seconds",
        "Seconds from a lead joining to its ServiceTitan booking being confirmed.",
        buckets=buckets,
        sum_value=total.total_seconds() if isinstance(total, timedelta) else float(total or 0),
    )


def queue() -> Iterator[Metric]:
    now = timezone.now()
    due = Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
    yield GaugeMetricFamily(
        "referloop_delivery_queue_depth",
        "Pending deliveries that are due now (leased ones excluded).",
        value=due.count(),
    )
    # The oldest due row of each tenant is one index seek on delivery_due; a global MIN would scan the queue.
    oldest = None
    for key in pending_rate_keys():
        moment = due.filter(rate_key=key).aggregate(oldest=Min("next_attempt_at"))["oldest"]
        if moment is not None and (oldest is None or moment < oldest):
            oldest = moment
    yield GaugeMetricFamily(
        "referloop_delivery_oldest_due_age_seconds",
        "How long the longest-waiting due delivery has been due (0 when none is).",
        value=(now - oldest).total_seconds() if oldest is not None else 0.0,
    )


def rate_limit() -> Iterator[Metric]:
    now = timezone.now()
    totals = TenantBucket.objects.aggregate(
        waits=Sum("waits"), pauses=Sum("pauses"), paused=Count("id", filter=Q(paused_until__gt=now))
    )
    yield CounterMetricFamily(
        "referloop_rate_limit_waits",
        "Claim rounds in which a tenant's due deliveries waited for its per-second budget.",
        value=totals["waits"] or 0,
    )
    yield CounterMetricFamily(
        "referloop_rate_limit_pauses",
        "429 answers that paused a tenant for its Retry-After.",
        value=totals["pauses"] or 0,
    )
    yield GaugeMetricFamily("referloop_tenants_paused", "Tenants paused by a 429 right now.", value=totals["paused"])


def workers() -> Metric:
    count = workers_alive(timezone.now()).count()
    return GaugeMetricFamily("referloop_workers_alive", "Workers with a recent heartbeat.", value=count)


def registry() -> CollectorRegistry:
    """A registry with only the engine's collector (not this web process's own CPU and memory)."""
    result = CollectorRegistry(auto_describe=False)
    result.register(DeliveryCollector())
    return result


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics for staff users, or for a scraper with `Authorization: Bearer <REFERLOOP_METRICS_TOKEN>`.

    Never public: with no token configured only staff get in. Counts are across all accounts, which is why
    account owners and admins are not enough.
    """
    if not _allowed(request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return HttpResponse("Only staff can read the metrics.\n", status=403, content_type="text/plain")
        response = HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="referloop metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def _allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    expected = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return (
        bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())
    )
