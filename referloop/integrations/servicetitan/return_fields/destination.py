"""ServiceTitan customers as the engine's database side sees them ("st_customer"): return-field writes and the
matches of referrers who joined, sharing the tenant's rate budget (the rate key of its bookings).

A write's values are read here, when the row is claimed: the linked referrer's link, code and qualified count,
for the field types the owner mapped; a customer no longer linked, or a mapping cleared, is delivered with
nothing to write. A match's local answer (the known-customer index) is read here too; the try asks ServiceTitan
by phone only when the index knows neither the email nor the phone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.db.models import Count, Q
from django.utils import timezone

from referloop.campaigns.models import QUALIFIED_STATUSES, Referrer
from referloop.integrations import deliveries
from referloop.integrations.destinations import ConnectorOptions, Destined, Row
from referloop.integrations.engine.tries import Result
from referloop.integrations.models import ConnectionState, Delivery, DeliveryState, Integration
from referloop.integrations.records import referral_links
from referloop.integrations.servicetitan import known_customers
from referloop.integrations.servicetitan.credentials import credentials_for
from referloop.integrations.servicetitan.customer_sync.models import CustomerLink
from referloop.integrations.servicetitan.readiness import CREDENTIALS_REJECTED_REASON
from referloop.integrations.servicetitan.return_fields import outbox
from referloop.integrations.servicetitan.return_fields.models import (
    CustomerMatch,
    CustomerWrite,
    MatchOutcome,
    ReturnFields,
)
from referloop.providers.base import Connector
from referloop.providers.servicetitan import TokenCache
from referloop.providers.servicetitan.customer_writer import (
    MATCHED,
    NAME,
    CustomerConnector,
    Destination,
    match_payload,
    nothing_payload,
    write_payload,
)
from referloop.providers.servicetitan.first_time import phone_digits

LOST_TRY_SENTENCE = (
    "The worker writing to this ServiceTitan customer stopped before it recorded an answer (its lease ran out); "
    "writing the same values again is safe, so it is simply tried again."
)


class CustomerKind:
    """The "st_customer" destination kind. It keeps nothing between claims."""

    name = NAME
    lost_try_sentence = LOST_TRY_SENTENCE
    credentials_hold_reason = CREDENTIALS_REJECTED_REASON

    def connector(self, options: ConnectorOptions) -> Connector:
        token_cache = options.token_cache
        assert token_cache is None or isinstance(token_cache, TokenCache)
        return CustomerConnector(timeout=options.timeout, token_cache=token_cache)

    def destinations(self, rows: Sequence[Row]) -> dict[int, Destined]:
        ids = {row.integration_id for row in rows if row.integration_id is not None}
        by_integration = {
            integration.pk: _destined(integration) for integration in Integration.objects.filter(pk__in=ids)
        }
        return {
            row.id: by_integration[row.integration_id]
            for row in rows
            if row.integration_id is not None and row.integration_id in by_integration
        }

    def payloads(self, rows: Sequence[Row]) -> dict[int, Mapping[str, object]]:
        targets = Delivery.objects.filter(pk__in=[row.id for row in rows]).values_list(
            "pk", "customer_write_id", "customer_match_id"
        )
        writes = {pk: write_id for pk, write_id, _ in targets if write_id is not None}
        matches = {pk: match_id for pk, _, match_id in targets if match_id is not None}
        return {**_write_payloads(writes), **_match_payloads(matches)}

    def after_results(self, applied: Sequence[tuple[Result, str]]) -> list[object]:
        delivered = [result for result, state in applied if state == DeliveryState.DELIVERED]
        if not delivered:
            return []
        targets = dict(
            Delivery.objects.filter(pk__in=[r.claim.delivery_id for r in delivered]).values_list(
                "pk", "customer_match_id"
            )
        )
        now = timezone.now()
        for result in delivered:
            match_id = targets.get(result.claim.delivery_id)
            if match_id is not None:
                _matched(match_id, result, now)
            elif result.claim.payload.get("action") == "write":
                _written(result, now)
        return []

    def send_notices(self, notices: Sequence[object]) -> None:
        pass

    def release_ready(self) -> int:
        ready = Integration.objects.filter(state=ConnectionState.CONNECTED, tenant_id__isnull=False)
        return Delivery.objects.filter(connector=NAME, state=DeliveryState.HELD, integration__in=ready).update(
            **deliveries.released(timezone.now())
        )


def _destined(integration: Integration) -> Destined:
    if integration.state == ConnectionState.CREDENTIALS_REJECTED:
        return Destined(integration.pk, None, CREDENTIALS_REJECTED_REASON)
    if integration.state != ConnectionState.CONNECTED or integration.tenant_id is None:
        return Destined(integration.pk, None, outbox.HOLD_NOT_CONNECTED)
    try:
        return Destined(integration.pk, Destination(credentials_for(integration)))
    except ValueError as exc:  # an environment this deployment no longer allows, a secret that can't be read
        return Destined(integration.pk, None, f"ServiceTitan can't be reached: {exc}"[:500])


def values_for(returns: ReturnFields, referrer: Referrer, qualified: int, link: str) -> tuple[dict, dict]:
    """({type id: value}, {type id: field name}) of what the mapping writes for this referrer."""
    values: dict[int, str] = {}
    names: dict[int, str] = {}
    for type_id, name, value in (
        (returns.link_field_id, returns.link_field_name, link),
        (returns.code_field_id, returns.code_field_name, referrer.code),
        (returns.count_field_id, returns.count_field_name, str(qualified)),
    ):
        if type_id is not None:
            values[type_id], names[type_id] = value, name
    return values, names


def _write_payloads(writes: Mapping[int, int]) -> dict[int, Mapping[str, object]]:
    if not writes:
        return {}
    rows = {w.pk: w for w in CustomerWrite.objects.filter(pk__in=set(writes.values()))}
    integrations = {w.integration_id for w in rows.values()}
    returns = {r.integration_id: r for r in ReturnFields.objects.filter(integration_id__in=integrations)}
    links = CustomerLink.objects.filter(
        integration_id__in=integrations, customer_id__in={w.customer_id for w in rows.values()}
    ).values_list("integration_id", "customer_id", "referrer_id")
    referrer_of = {(integration_id, customer_id): referrer_id for integration_id, customer_id, referrer_id in links}
    referrers = Referrer.objects.filter(pk__in=set(referrer_of.values())).annotate(
        qualified=Count("leads", filter=Q(leads__status__in=QUALIFIED_STATUSES))
    )
    by_pk = {referrer.pk: referrer for referrer in referrers}
    link = referral_links()
    found: dict[int, Mapping[str, object]] = {}
    for delivery_id, write_id in writes.items():
        write = rows[write_id]
        mapping = returns.get(write.integration_id)
        referrer = by_pk.get(referrer_of.get((write.integration_id, write.customer_id), -1))
        if mapping is None or not mapping.mapped:
            found[delivery_id] = nothing_payload("No return fields are mapped any more: nothing was written.")
        elif referrer is None:
            found[delivery_id] = nothing_payload(
                f"Customer {write.customer_id} is no longer linked to a referrer: nothing was written."
            )
        else:
            values, names = values_for(mapping, referrer, referrer.qualified, link(referrer.code))
            found[delivery_id] = write_payload(write.customer_id, values, names, write.requested)
    return found


def _match_payloads(matches: Mapping[int, int]) -> dict[int, Mapping[str, object]]:
    if not matches:
        return {}
    rows = {m.pk: m for m in CustomerMatch.objects.filter(pk__in=set(matches.values())).select_related("referrer")}
    index = known_customers.current_index()
    found: dict[int, Mapping[str, object]] = {}
    for delivery_id, match_id in matches.items():
        match = rows[match_id]
        keys = known_customers.keys_of(match.referrer.email, match.referrer.phone)
        known = index.customer_ids(match.integration_id, keys)
        hit = next(((key, known[key]) for key in keys if key in known), None)
        digits = phone_digits(match.referrer.phone) or ""
        if hit is not None:
            found[delivery_id] = match_payload(hit[1], hit[0][0], digits)
        else:
            found[delivery_id] = match_payload(None, "", digits)
    return found


def _written(result: Result, now: datetime) -> None:
    """The write read request N: remember what it wrote; a change asked for since gets its own write."""
    payload = result.claim.payload
    write_id = Delivery.objects.filter(pk=result.claim.delivery_id).values_list("customer_write_id", flat=True).first()
    if write_id is None:
        return
    write = CustomerWrite.objects.select_related("integration").get(pk=write_id)
    read = int(str(payload.get("request") or 0))
    written = result.tried.context.get("written") if result.tried is not None else None
    write.written = max(write.written, read)
    write.last_values = dict(written) if isinstance(written, Mapping) else write.last_values
    write.written_at = now
    write.save(update_fields=["written", "last_values", "written_at"])
    if write.requested > read:
        Delivery.objects.bulk_create(
            [outbox._row(write.integration, timezone.now(), customer_write_id=write.pk)], ignore_conflicts=True
        )


def _matched(match_id: int, result: Result, now: datetime) -> None:
    answer = result.tried.context.get(MATCHED) if result.tried is not None else None
    customer_id = answer.get("customer_id") if isinstance(answer, Mapping) else None
    match = CustomerMatch.objects.get(pk=match_id)
    match.decided_at = now
    if customer_id is None:
        match.outcome = MatchOutcome.NOT_FOUND
        match.save(update_fields=["outcome", "decided_at"])
        return
    match.outcome, match.customer_id = MatchOutcome.LINKED, int(str(customer_id))
    match.matched_by = str(answer.get("matched_by") or "") if isinstance(answer, Mapping) else ""
    match.save(update_fields=["outcome", "customer_id", "matched_by", "decided_at"])
    CustomerLink.objects.bulk_create(
        [
            CustomerLink(
                integration_id=match.integration_id, customer_id=match.customer_id, referrer_id=match.referrer_id
            )
        ],
        ignore_conflicts=True,
    )
    outbox.request_writes(match.integration_id, [match.customer_id])
