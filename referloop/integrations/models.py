"""Integration config per campaign, and the delivery outbox: one Delivery per lead and integration."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from referloop.campaigns.models import Campaign, Lead
from referloop.integrations import crypto
from referloop.integrations.servicetitan.return_fields.models import CustomerMatch, CustomerWrite
from referloop.integrations.webhooks.models import WebhookEndpoint, WebhookEvent
from referloop.providers.mapping import FieldMapping


class Provider(models.TextChoices):
    SERVICETITAN = "servicetitan", "ServiceTitan"


class Environment(models.TextChoices):
    PRODUCTION = "production", "Production"
    INTEGRATION = "integration", "Integration"
    SANDBOX = "sandbox", "Sandbox (local)"


class ConnectionState(models.TextChoices):
    NOT_CONNECTED = "not_connected", "Not connected"
    CONNECTED = "connected", "Connected"
    DISCONNECTED = "disconnected", "Disconnected"
    CREDENTIALS_REJECTED = "credentials_rejected", "Credentials rejected"


class LeadAction(models.TextChoices):
    NOTHING = "nothing", "Nothing to action"
    CREATE_BOOKING = "create_booking", "Create New Booking In ServiceTitan"


class QualificationRule(models.TextChoices):
    """When a referral qualifies, from what ServiceTitan says about its booking (Leads tab)."""

    NONE = "none", "Do not qualify my referrals"
    JOB = "job", "Booking becomes a job"
    JOB_STATUS = "job_status", "The job reaches a status"
    INVOICE_PAID = "invoice_paid", "The job's invoice is paid"


class JobStatus(models.TextChoices):
    """The job statuses a rule can wait for: jpm-v2's JobStatus without Canceled, which never qualifies."""

    SCHEDULED = "Scheduled", "Scheduled"
    DISPATCHED = "Dispatched", "Dispatched"
    IN_PROGRESS = "InProgress", "In progress"
    HOLD = "Hold", "Hold"
    COMPLETED = "Completed", "Completed"


class Integration(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="integrations")
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.SERVICETITAN)
    environment = models.CharField(max_length=12, choices=Environment.choices, default=Environment.PRODUCTION)
    tenant_id = models.BigIntegerField(null=True, blank=True)
    client_id = models.CharField(max_length=200, blank=True)
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    booking_provider_id = models.BigIntegerField(null=True, blank=True)
    app_key_encrypted = models.TextField(blank=True, editable=False)
    state = models.CharField(max_length=24, choices=ConnectionState.choices, default=ConnectionState.NOT_CONNECTED)
    lead_action = models.CharField(max_length=20, choices=LeadAction.choices, default=LeadAction.NOTHING)
    field_mapping = models.JSONField(default=dict, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    needs_attention = models.BooleanField(default=False)
    attention_reason = models.CharField(max_length=500, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    qualification_rule = models.CharField(
        max_length=20, choices=QualificationRule.choices, default=QualificationRule.NONE
    )
    qualifying_job_status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.COMPLETED)
    minimum_job_total = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Optional: only jobs whose invoice total is at least this much qualify.",
    )
    follow_days = models.PositiveIntegerField(
        default=90,
        help_text="How long referloop follows a booking in ServiceTitan; after that it stops and says why.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "provider"], name="one_integration_per_provider")]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} for {self.campaign}"

    @property
    def client_secret(self) -> str:
        return crypto.decrypt(self.client_secret_encrypted)

    @client_secret.setter
    def client_secret(self, value: str) -> None:
        self.client_secret_encrypted = crypto.encrypt(value)

    @property
    def own_app_key(self) -> str:
        return crypto.decrypt(self.app_key_encrypted)

    @own_app_key.setter
    def own_app_key(self, value: str) -> None:
        self.app_key_encrypted = crypto.encrypt(value)

    @property
    def app_key(self) -> str:
        return self.own_app_key or settings.SERVICETITAN_APP_KEY

    @property
    def masked_secret(self) -> str:
        return crypto.mask(self.client_secret) if self.client_secret_encrypted else ""

    @property
    def rate_key(self) -> str:
        """ServiceTitan limits calls per app per tenant: deliveries with the same key share one budget."""
        app = hashlib.sha256(self.app_key.encode()).hexdigest()[:10]
        return f"{self.environment}:{self.tenant_id}:{app}"

    def mapping(self) -> dict[str, FieldMapping]:
        return {
            key: FieldMapping(data_type=value["data_type"], source=value["source"])
            for key, value in (self.field_mapping or {}).items()
            if isinstance(value, dict) and value.get("data_type") and "source" in value
        }

    def set_mapping(self, mapping: dict[str, FieldMapping]) -> None:
        self.field_mapping = {
            key: {"data_type": entry.data_type, "source": entry.source} for key, entry in mapping.items()
        }


class IntegrationChange(models.Model):
    """Who changed what and when: the integration's audit trail."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="changes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    summary = models.CharField(max_length=500)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return self.summary


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    HELD = "held", "Held"
    SKIPPED = "skipped", "Skipped"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One lead and one integration action: the durable outbox row.

    `pending` rows are due at `next_attempt_at`; a worker claims one by setting a lease, and a lease that runs
    out (the worker died) makes the row claimable again. `ambiguous` means the last try may have reached the
    destination, so the next try settles that first (ServiceTitan: looks the booking up by externalId).
    `connector` names the destination kind that sends it (`integrations.destinations`). A ServiceTitan row has
    an integration and a lead; a webhook row an endpoint and an event (`webhooks/`); an email row an email
    (`notifications/`); a ServiceTitan customer row an integration and a customer write or match
    (`servicetitan/return_fields/`); never two of these.
    """

    connector = models.CharField(max_length=20, default="servicetitan")
    # Null on webhook rows only: the check constraint below pairs integration with lead, endpoint with event.
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="deliveries", null=True)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="deliveries", null=True)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", null=True)
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries", null=True)
    # An email row has only this (notifications/): the email says whom it goes to and about which lead.
    email = models.OneToOneField("notifications.Email", on_delete=models.CASCADE, related_name="delivery", null=True)
    # A ServiceTitan customer row ("st_customer", return_fields/) has its integration and one of these.
    customer_write = models.ForeignKey(CustomerWrite, on_delete=models.CASCADE, related_name="deliveries", null=True)
    customer_match = models.OneToOneField(CustomerMatch, on_delete=models.CASCADE, related_name="delivery", null=True)
    state = models.CharField(max_length=10, choices=DeliveryState.choices)
    reason = models.CharField(max_length=500, blank=True)
    rate_key = models.CharField(max_length=80, db_index=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    leased_by = models.CharField(max_length=80, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    ambiguous = models.BooleanField(default=False)
    external_id = models.CharField(max_length=100, blank=True)
    remote_id = models.BigIntegerField(null=True, blank=True)  # what the destination made: a ServiceTitan booking id
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # Kept after release, so a lead's timeline still shows that it waited and why.
    held_at = models.DateTimeField(null=True, blank=True)
    held_reason = models.CharField(max_length=500, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "lead"], name="one_delivery_per_lead"),
            models.UniqueConstraint(fields=["endpoint", "event"], name="one_delivery_per_endpoint_event"),
            # One pending or held write per customer: later changes coalesce into it (the values are read at the try).
            models.UniqueConstraint(
                fields=["customer_write"],
                condition=Q(state__in=["pending", "held"]),
                name="one_open_write_per_customer",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        integration__isnull=False,
                        lead__isnull=False,
                        endpoint__isnull=True,
                        event__isnull=True,
                        email__isnull=True,
                        customer_write__isnull=True,
                        customer_match__isnull=True,
                    )
                    | Q(
                        integration__isnull=True,
                        lead__isnull=True,
                        endpoint__isnull=False,
                        event__isnull=False,
                        email__isnull=True,
                        customer_write__isnull=True,
                        customer_match__isnull=True,
                    )
                    | Q(
                        integration__isnull=True,
                        lead__isnull=True,
                        endpoint__isnull=True,
                        event__isnull=True,
                        email__isnull=False,
                        customer_write__isnull=True,
                        customer_match__isnull=True,
                    )
                    | Q(
                        integration__isnull=False,
                        lead__isnull=True,
                        endpoint__isnull=True,
                        event__isnull=True,
                        email__isnull=True,
                    )
                    & (
                        Q(customer_write__isnull=False, customer_match__isnull=True)
                        | Q(customer_write__isnull=True, customer_match__isnull=False)
                    )
                ),
                name="delivery_has_one_destination",
            ),
        ]
        indexes = [
            # `id` last: PostgreSQL reads a tenant's oldest due rows (ORDER BY next_attempt_at, id LIMIT n)
            # straight off the index instead of sorting all of them (rows released together tie on the time).
            models.Index(fields=["state", "rate_key", "next_attempt_at", "id"], name="delivery_due"),
            models.Index(fields=["integration", "state"], name="delivery_by_integration"),
            # Issue 16 screens: Activity newest first, all states and one state (a page of 50 read off the index
            # instead of sorting every row), and Diagnose's last booking and bookings in the last 24 hours.
            models.Index(fields=["integration", "created_at", "id"], name="delivery_activity"),
            models.Index(fields=["integration", "state", "created_at", "id"], name="delivery_activity_state"),
            models.Index(
                fields=["integration", "delivered_at"], condition=Q(state="delivered"), name="delivery_delivered"
            ),
            # Diagnose's failures of the last 24 hours, off the index instead of every failure the account ever had;
            # an entry only when a delivery fails, so the booking path pays nothing for it.
            models.Index(fields=["integration", "failed_at"], condition=Q(state="failed"), name="delivery_failed"),
        ]

    def __str__(self) -> str:
        if self.endpoint_id is not None:
            return f"Delivery of event {self.event_id} to webhook endpoint {self.endpoint_id} ({self.state})"
        if self.email_id is not None:
            return f"Delivery of email {self.email_id} ({self.state})"
        return f"Delivery of lead {self.lead_id} to integration {self.integration_id} ({self.state})"

    @property
    def subject(self) -> str:
        """What an integration's row is about, as Activity names it: the lead's email, or the customer write or
        referrer match (return_fields/) it carries. Select those related rows with it."""
        if self.lead_id is not None and self.lead is not None:
            return self.lead.email
        if self.customer_write_id is not None and self.customer_write is not None:
            return f"Return fields of customer {self.customer_write.customer_id}"
        if self.customer_match_id is not None and self.customer_match is not None:
            return f"Finding the ServiceTitan customer of {self.customer_match.referrer.email}"
        return ""


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    FOUND_EXISTING = "found_existing", "Found existing booking"
    TRANSIENT = "transient", "Temporary failure"
    AMBIGUOUS = "ambiguous", "No answer"
    PERMANENT = "permanent", "Rejected"
    CREDENTIALS = "credentials", "Credentials rejected"
    INVALID_DATA = "invalid_data", "Lead data can't be mapped"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices)
    request_summary = models.JSONField(default=dict, blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_text = models.TextField(blank=True)  # what the destination said, in its own words
    sentence = models.TextField(blank=True)
    # What the try left out of the request and why (a lead's partial address): it still went, so it is no error.
    warnings = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"Attempt {self.number} of delivery {self.delivery_id}: {self.outcome}"


class TenantBucket(models.Model):
    """The shared call budget of one ServiceTitan tenant (per app), used by every worker process when claiming.

    The budget is a paced token bucket (GCRA): `next_slot_at` is the earliest moment the tenant's next call may
    be sent. A claim hands each row its own send time, one interval apart, and moves `next_slot_at` on; so sends
    are spread evenly instead of bursting, which is what a 1-second sliding window (ServiceTitan's, the
    sandbox's) needs. See `referloop.integrations.engine.ratelimit`.

    `owner` is the worker that claimed for the tenant last; other workers leave the tenant alone until
    `owned_until`, so all of a tenant's calls leave from one process at a time and its wire pacing holds.
    """

    rate_key = models.CharField(max_length=80, unique=True)
    next_slot_at = models.FloatField(default=0)  # epoch seconds
    owner = models.CharField(max_length=80, blank=True)
    owned_until = models.FloatField(default=0)  # epoch seconds
    paused_until = models.DateTimeField(null=True, blank=True)  # after a 429: no claims until then
    waits = models.PositiveBigIntegerField(default=0)  # claim rounds in which due rows waited for the budget
    pauses = models.PositiveBigIntegerField(default=0)  # 429s that paused the tenant

    def __str__(self) -> str:
        return self.rate_key


class WorkerHeartbeat(models.Model):
    worker_id = models.CharField(max_length=80, unique=True)
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)
    in_flight = models.PositiveIntegerField(default=0)
    processed = models.PositiveBigIntegerField(default=0)
    stopped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.worker_id

    def as_dict(self) -> dict[str, Any]:
        return {"worker_id": self.worker_id, "seen_at": self.seen_at.isoformat(), "in_flight": self.in_flight}


class Follow(models.Model):
    """One booking the follower tracks in ServiceTitan, from delivered until settled: the facts as last read.

    Settled means nothing more can change the referral's outcome: the invoice is paid, the booking was dismissed,
    the job canceled, or the follow window ended (`settled_reason` says which).
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="follows")
    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="follow")
    booking_id = models.BigIntegerField()
    booking_status = models.CharField(max_length=20, blank=True)
    job_id = models.BigIntegerField(null=True, blank=True)
    job_number = models.CharField(max_length=40, blank=True)
    job_status = models.CharField(max_length=20, blank=True)
    completed_on = models.DateTimeField(null=True, blank=True)
    invoice_id = models.BigIntegerField(null=True, blank=True)
    invoice_total = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    invoice_balance = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    paid_on = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    follow_until = models.DateTimeField()
    checked_at = models.DateTimeField(null=True, blank=True)  # the last time ServiceTitan answered about it
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["integration", "settled_at"], name="follow_open"),
            models.Index(fields=["integration", "booking_id"], name="follow_booking"),
        ]

    def __str__(self) -> str:
        return f"booking {self.booking_id} of lead {self.lead_id}"


class FollowSync(models.Model):
    """The follower's place per integration: cursors, when the next cycle is due and who runs it (a lease, so
    two workers never follow one tenant at once), and how the last cycle went (Diagnose shows it)."""

    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, related_name="follow_sync")
    bookings_since = models.DateTimeField(null=True, blank=True)
    jobs_since = models.DateTimeField(null=True, blank=True)
    invoices_since = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(default=timezone.now)
    leased_by = models.CharField(max_length=80, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_calls = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"follower of {self.integration_id}"
