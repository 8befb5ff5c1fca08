"""What the Webhooks screens (and anything else) do to an account's endpoints: small functions, one rule each.

Every function takes the account first and only ever reads or changes that account's rows: an id of another
account's endpoint or delivery raises `WebhookEndpoint.DoesNotExist` / `Delivery.DoesNotExist`, exactly like an
id that does not exist (a view turns both into a 404). Bad input raises `InputRejected` with errors by field
name, nothing saved. The secret is returned once, by `create_endpoint` and `rotate_secret`; afterwards only its
masked form (`endpoint.masked_secret`) is shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.utils import timezone

from referloop.accounts.models import Account
from referloop.campaigns.errors import InputRejected
from referloop.integrations import deliveries
from referloop.integrations.models import Attempt, Delivery, DeliveryState
from referloop.integrations.webhooks import outbox
from referloop.integrations.webhooks.destination import UNREADABLE_SECRET, address_policy
from referloop.integrations.webhooks.events import EVENT_TYPES
from referloop.integrations.webhooks.models import (
    ROTATION_OVERLAP,
    WebhookEndpoint,
    WebhookEvent,
    new_secret,
)
from referloop.integrations.webhooks.outbox import TEST_EVENT
from referloop.providers.webhooks import check_url

DISABLED_BY_USER = "It was turned off on the Webhooks screen."
MAX_ENDPOINTS_PER_ACCOUNT = 20


class EndpointBusy(Exception):
    """The endpoint can't be deleted yet: an event is being sent to it right now (the message says what to do)."""


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once, right after creation; afterwards only masked


@dataclass(frozen=True)
class Rotated:
    secret: str  # the new secret, shown once
    previous_valid_until: datetime  # the old secret signs too until then


# -- reading ------------------------------------------------------------------------------------------------------


def endpoints(account: Account) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(account=account).order_by("created_at", "pk")


def endpoint_of(account: Account, endpoint_id: int) -> WebhookEndpoint:
    """The account's endpoint by id; WebhookEndpoint.DoesNotExist for an unknown id or another account's."""
    return WebhookEndpoint.objects.get(account=account, pk=endpoint_id)


def endpoint_log(account: Account, endpoint_id: int, *, state: str = "", event_type: str = "") -> QuerySet[Delivery]:
    """The endpoint's deliveries, newest first, each with its event (page it, then `with_attempts`)."""
    endpoint = endpoint_of(account, endpoint_id)
    deliveries = Delivery.objects.filter(endpoint=endpoint).select_related("event")
    if state:
        deliveries = deliveries.filter(state=state)
    if event_type:
        deliveries = deliveries.filter(event__type=event_type)
    return deliveries.order_by("-created_at", "-pk")


def with_attempts(deliveries: list[Delivery]) -> list[Delivery]:
    """The deliveries with their attempts (oldest first) read in one query.

    An attempt has `request_summary` (url, method, the headers and the body as sent, under "requests"),
    `response_status`, `response_text` (the first 1,000 characters of the answer) and `sentence`.
    """
    prefetch_related_objects(deliveries, Prefetch("attempts", queryset=Attempt.objects.order_by("number", "pk")))
    return deliveries


def endpoint_deliveries(
    account: Account, endpoint_id: int, *, state: str = "", event_type: str = "", limit: int = 50
) -> list[Delivery]:
    """The newest `limit` deliveries of the endpoint's log, with their attempts."""
    return with_attempts(list(endpoint_log(account, endpoint_id, state=state, event_type=event_type)[:limit]))


def delivery_of(account: Account, delivery_id: int) -> Delivery:
    """One webhook delivery of the account, with its endpoint and event; Delivery.DoesNotExist otherwise."""
    return Delivery.objects.select_related("endpoint", "event").get(
        pk=delivery_id, endpoint__account=account, endpoint__isnull=False
    )


# -- changing -----------------------------------------------------------------------------------------------------


def clean_url(url: str) -> str:
    """The URL as stored, or InputRejected saying what is wrong with it (resolves its host now)."""
    url = (url or "").strip()
    if not url:
        raise InputRejected({"url": ["Enter the URL that should receive the events."]})
    if len(url) > WebhookEndpoint._meta.get_field("url").max_length:  # type: ignore[operator]
        raise InputRejected({"url": ["The URL is too long (1,000 characters at most)."]})
    problem = check_url(url, address_policy())
    if problem:
        raise InputRejected({"url": [problem]})
    return url


def clean_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    unknown = [event for event in chosen if event not in EVENT_TYPES]
    if unknown:
        raise InputRejected({"events": [f"Unknown event type: {', '.join(unknown)}."]})
    if not chosen:
        raise InputRejected({"events": ["Choose at least one event to send."]})
    return [event for event in EVENT_TYPES if event in chosen]  # in the registry's order


def create_endpoint(
    account: Account, *, url: str, events: Iterable[str], description: str = "", ordered: bool = False
) -> CreatedEndpoint:
    """A new, enabled endpoint with a fresh `whsec_` secret, returned this once."""
    if endpoints(account).count() >= MAX_ENDPOINTS_PER_ACCOUNT:
        raise InputRejected({"url": [f"An account can have {MAX_ENDPOINTS_PER_ACCOUNT} webhook endpoints at most."]})
    endpoint = WebhookEndpoint(
        account=account,
        url=clean_url(url),
        events=clean_events(events),
        description=description.strip()[:200],
        ordered=ordered,
    )
    secret = new_secret()
    endpoint.secret = secret
    endpoint.save()
    return CreatedEndpoint(endpoint, secret)


def update_endpoint(
    account: Account,
    endpoint_id: int,
    *,
    url: str | None = None,
    events: Iterable[str] | None = None,
    description: str | None = None,
    ordered: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given; the rest stays. Events already recorded keep going to the endpoint as they were."""
    endpoint = endpoint_of(account, endpoint_id)
    if url is not None:
        endpoint.url = clean_url(url)
    if events is not None:
        endpoint.events = clean_events(events)
    if description is not None:
        endpoint.description = description.strip()[:200]
    if ordered is not None:
        endpoint.ordered = ordered
    endpoint.save()
    if ordered is False:
        # No longer in order: whatever waited for its turn goes now.
        Delivery.objects.filter(
            endpoint=endpoint, state=DeliveryState.HELD, held_reason=outbox.ORDER_WAIT_REASON
        ).update(**deliveries.released(timezone.now()))
    return endpoint


def delete_endpoint(account: Account, endpoint_id: int) -> None:
    """Delete the endpoint with its delivery log. While an event is being sent to it, it is disabled instead and
    EndpointBusy raised: the send finishes within two minutes, then deleting works."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(account=account, pk=endpoint_id)
        # Locked, so no worker claims one of them between this look and the delete (a claim skips locked rows).
        leases = Delivery.objects.select_for_update().filter(endpoint=endpoint, state=DeliveryState.PENDING)
        now = timezone.now()
        in_flight = any(
            until is not None and until > now for until in leases.values_list("lease_expires_at", flat=True)
        )
        if not in_flight:
            endpoint.delete()
            return
        _disable(endpoint, "It is being deleted.")
    raise EndpointBusy(
        "An event is being sent to this endpoint right now, so it was disabled instead: delete it again in two minutes."
    )


def disable_endpoint(account: Account, endpoint_id: int, reason: str = DISABLED_BY_USER) -> WebhookEndpoint:
    """Stop sending: new and waiting events are held (not lost) until it is enabled."""
    endpoint = endpoint_of(account, endpoint_id)
    _disable(endpoint, reason)
    return endpoint


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    now = timezone.now()
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason[:500], now
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason=reason[:500], disabled_at=now)
    outbox.hold_pending(endpoint.pk, outbox.hold_reason(endpoint) or reason, now)


@transaction.atomic
def enable_endpoint(account: Account, endpoint_id: int, *, send_held: bool = True) -> int:
    """Send again: the failure streak is forgotten and the events held meanwhile go out (or, with
    `send_held=False`, are marked skipped with the reason). Returns how many held events were released."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(account=account, pk=endpoint_id)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=True, disabled_reason="", disabled_at=None, failing_since=None, updated_at=timezone.now()
    )
    endpoint.refresh_from_db()
    if send_held:
        return outbox.release_held(endpoint)
    outbox.skip_held(endpoint)
    return 0


@transaction.atomic
def rotate_secret(account: Account, endpoint_id: int, *, now: datetime | None = None) -> Rotated:
    """A new secret, returned this once. Events are signed with both the new and the old one for 24 hours
    (two `v1,` signatures), so receivers can switch over without rejecting an event.

    A second rotation within those 24 hours is refused: it would drop the first old secret early, and receivers
    still holding it would start rejecting events. The endpoint row is locked, so two rotations can't interleave.
    """
    now = now or timezone.now()
    endpoint = endpoint_of(account, endpoint_id)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > now:
        raise InputRejected(
            {
                "secret": [
                    f"The previous secret is still accepted until {expires:%Y-%m-%d %H:%M} UTC, while receivers "
                    "switch over. Rotate again after that."
                ]
            }
        )
    secret = new_secret()
    try:
        endpoint.secret  # noqa: B018 - an old secret this deployment can't read is dropped, not kept to sign
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    except ValueError:
        endpoint.previous_secret_encrypted, endpoint.previous_secret_expires_at = "", None
    endpoint.secret = secret
    endpoint.save(
        update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_expires_at", "updated_at"]
    )
    # Events held because the secret could not be read can go now.
    Delivery.objects.filter(endpoint=endpoint, state=DeliveryState.HELD, held_reason=UNREADABLE_SECRET).update(
        **deliveries.released(now)
    )
    return Rotated(secret, now + ROTATION_OVERLAP)


@transaction.atomic
def send_test_event(account: Account, endpoint_id: int) -> Delivery:
    """A `webhook.test` event to this endpoint only, sent by the engine like any other (signed, retried, logged).

    It goes even while the endpoint is disabled and ahead of an ordered endpoint's queue, so a fixed receiver
    can be tried before it is enabled again.
    """
    endpoint = endpoint_of(account, endpoint_id)
    now = timezone.now()
    event = WebhookEvent.objects.create(
        account=account,
        type=TEST_EVENT,
        payload={
            "message": "A test event from referloop: if you can read this, the endpoint receives and verifies events.",
            "endpoint": {"id": endpoint.pk, "url": endpoint.url, "description": endpoint.description},
        },
        created_at=now,
    )
    delivery = outbox.new_delivery(endpoint, event, now)
    delivery.save()
    return delivery


def resend_delivery(account: Account, delivery_id: int) -> bool:
    """The delivery goes out again (same webhook-id, same body, a fresh day of retries). False when it can't be
    resent now: it is pending or held already, or being sent."""
    delivery = delivery_of(account, delivery_id)
    return bool(outbox.resend(Delivery.objects.filter(pk=delivery.pk)))
