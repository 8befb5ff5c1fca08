"""Webhook endpoints (an account's URLs that receive signed events) and the events they are sent.

Imported by `integrations/models.py`, so these are models of the integrations app: a Delivery row points either
at an integration and a lead (ServiceTitan) or at an endpoint and an event (a webhook), never both.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta

from django.db import models
from django.utils import timezone

from referloop.accounts.models import Account
from referloop.integrations import crypto

# Both secrets sign for this long after a rotation, so receivers can switch over without dropping events.
ROTATION_OVERLAP = timedelta(hours=24)
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64 (what Svix and Stripe hand out)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_event_id() -> str:
    """`msg_` and 24 URL-safe random characters: sent as `webhook-id`, which receivers deduplicate by."""
    return "msg_" + secrets.token_urlsafe(18)


class WebhookEndpoint(models.Model):
    """One URL of an account's that receives the events it subscribed to, signed with its secret."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=1000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, blank=True)  # the event types it wants (webhooks.events.EVENT_TYPES)
    # Deliver in order: one event at a time, oldest first (see webhooks/destination.py).
    ordered = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # The first failed try of the current streak; cleared by a success. Five days of it disable the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "integrations"
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["account", "enabled"], name="webhook_endpoint_by_account")]

    def __str__(self) -> str:
        return self.url

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = crypto.encrypt(value)

    @property
    def masked_secret(self) -> str:
        return crypto.mask(self.secret) if self.secret_encrypted else ""

    def previous_secret_valid(self, now: datetime | None = None) -> bool:
        expires = self.previous_secret_expires_at
        return bool(self.previous_secret_encrypted) and expires is not None and (now or timezone.now()) < expires

    def signing_secrets(self, now: datetime | None = None) -> tuple[str, ...]:
        """Every secret that signs now: the current one, and the previous one within 24 h of a rotation."""
        if self.previous_secret_valid(now):
            return (self.secret, crypto.decrypt(self.previous_secret_encrypted))
        return (self.secret,)

    @property
    def rate_key(self) -> str:
        """Each endpoint is paced on its own: one slow receiver never holds up another account's events."""
        return rate_key_of(self.pk)

    def wants(self, event_type: str) -> bool:
        return event_type in (self.events or [])


def rate_key_of(endpoint_id: int) -> str:
    return f"webhook:{endpoint_id}"


class WebhookEvent(models.Model):
    """Something that happened in an account, as sent to its endpoints: `type`, the time, and `payload` (data)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="webhook_events")
    event_id = models.CharField(max_length=40, unique=True, default=new_event_id, editable=False)
    type = models.CharField(max_length=60)
    payload = models.JSONField(default=dict)  # the event's `data`
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        app_label = "integrations"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"

    def body(self) -> dict[str, object]:
        """The JSON document POSTed: the same on every try, so it can be deduplicated by `webhook-id`."""
        return {"type": self.type, "timestamp": event_timestamp(self.created_at), "data": self.payload}


def event_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as Standard Webhooks' examples write it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
