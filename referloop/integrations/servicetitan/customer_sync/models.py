"""The customer sync's state: one CustomerSync per integration (what to import, where each export stands, how far
the run got), the staged customers and contacts (joined by customer id), and the link referrer ↔ customer.

The staged rows are what the exports handed out, kept so that a customer's email can come from the contacts export
(its own feed and token) and so every customer's outcome in the current run can be counted exactly.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from referloop.campaigns.models import Referrer
from referloop.integrations.models import Integration


class Selection(models.TextChoices):
    ALL = "all", "All customers"
    TAG = "tag", "Customers with a tag"
    CREATED_AFTER = "created_after", "Customers created on or after a date"


class NameSource(models.TextChoices):
    SPLIT = "split", "Customer name, split into first and last name"
    WHOLE = "whole", "Whole customer name as the first name"


class EmailSource(models.TextChoices):
    FIRST = "first", "The customer's first email contact"
    LATEST = "latest", "The customer's most recently changed email contact"


class PhoneSource(models.TextChoices):
    MOBILE = "mobile", "Mobile phone, else phone"
    PHONE = "phone", "Phone, else mobile phone"
    NONE = "none", "Don't import a phone"


class Mode(models.TextChoices):
    ONE_TIME = "one_time", "One-time"
    ONGOING = "ongoing", "Ongoing"


class SyncState(models.TextChoices):
    IDLE = "idle", "Not started"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    STOPPED = "stopped", "Stopped"
    FAILED = "failed", "Failed"


class Phase(models.TextChoices):
    CONTACTS = "contacts", "Reading contacts"
    CUSTOMERS = "customers", "Reading customers"


class Outcome(models.TextChoices):
    """What the current run did with one customer (the finished summary counts these)."""

    CREATED = "created", "Created a referrer"
    LINKED = "linked", "Linked to an existing referrer"
    KEPT = "kept", "Already synced"
    UPDATED = "updated", "Updated the referrer"  # a linked referrer took the customer's changed name, email or phone
    NO_EMAIL = "no_email", "No email"
    BAD_EMAIL = "bad_email", "Email not valid"
    NO_NAME = "no_name", "No name"
    INACTIVE = "inactive", "Inactive in ServiceTitan"
    NOT_SELECTED = "not_selected", "Not among the chosen customers"
    EMAIL_TAKEN = "email_taken", "Email belongs to another referrer"  # a changed email not applied (follow.py)


SKIP_OUTCOMES = (
    Outcome.NO_EMAIL,
    Outcome.BAD_EMAIL,
    Outcome.NO_NAME,
    Outcome.INACTIVE,
    Outcome.NOT_SELECTED,
    Outcome.EMAIL_TAKEN,
)


class CustomerSync(models.Model):
    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, related_name="customer_sync")
    # Which customers, and how their fields become a referrer's.
    selection = models.CharField(max_length=16, choices=Selection.choices, default=Selection.ALL)
    tag_id = models.BigIntegerField(null=True, blank=True)
    created_after = models.DateField(null=True, blank=True)
    include_inactive = models.BooleanField(default=False)
    name_source = models.CharField(max_length=8, choices=NameSource.choices, default=NameSource.SPLIT)
    email_source = models.CharField(max_length=8, choices=EmailSource.choices, default=EmailSource.FIRST)
    phone_source = models.CharField(max_length=8, choices=PhoneSource.choices, default=PhoneSource.MOBILE)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.ONE_TIME)
    # Where the run stands: each export's continuation token, saved with the page it follows (a restart resumes).
    state = models.CharField(max_length=10, choices=SyncState.choices, default=SyncState.IDLE)
    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.CONTACTS)
    run = models.PositiveIntegerField(default=0)  # counts Starts; staged customers carry the run that saw them
    customers_token = models.CharField(max_length=1000, blank=True)
    contacts_token = models.CharField(max_length=1000, blank=True)
    passes = models.PositiveIntegerField(default=0)  # full passes over both exports in this run
    pages = models.PositiveIntegerField(default=0)  # export pages written in this run
    contacts_read = models.PositiveIntegerField(default=0)
    customers_read = models.PositiveIntegerField(default=0)
    # How many customers the tenant had when the run started (one counting call): what "rows to go" counts down from.
    customers_total = models.PositiveIntegerField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)  # when the worker should read next (ongoing: the poll)
    leased_by = models.CharField(max_length=80, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    started_by_email = models.CharField(max_length=254, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)  # the first full pass's end (ongoing keeps going)
    last_page_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    # The contacts copy, which is also the known-customer index (index.py). `keep_contacts`: a mapping of this
    # integration sends Is First Time Client From ServiceTitan, so the worker keeps reading the contacts export even
    # when no referrer sync runs (`contacts_due_at` is when it reads next then). Complete: the contacts export was
    # read to its end at least once; fresh: a contacts page was written recently.
    keep_contacts = models.BooleanField(default=False)
    contacts_due_at = models.DateTimeField(null=True, blank=True)
    contacts_complete_at = models.DateTimeField(null=True, blank=True)
    contacts_polled_at = models.DateTimeField(null=True, blank=True)
    # The contacts-only copy's last failure (store.failed), kept apart from the referrer sync's `last_error`: the
    # Referrers tab and Diagnose show it. Over once a contacts page is written after it (copy_health.py).
    contacts_error = models.CharField(max_length=500, blank=True)
    contacts_error_at = models.DateTimeField(null=True, blank=True)
    contacts_error_permanent = models.BooleanField(default=False)  # a refusal a person must fix (scope, credentials)

    def __str__(self) -> str:
        return f"customer sync of {self.integration_id} ({self.state})"


class StagedCustomer(models.Model):
    """A customer as the export last handed it out, and what the run did with it."""

    sync = models.ForeignKey(CustomerSync, on_delete=models.CASCADE, related_name="customers")
    customer_id = models.BigIntegerField()
    name = models.CharField(max_length=300, blank=True)
    active = models.BooleanField(default=True)
    tag_type_ids = models.JSONField(default=list, blank=True)
    created_on = models.DateTimeField(null=True, blank=True)
    run = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("sync", "customer_id", name="staged_customer_once")]
        indexes = [models.Index(fields=["sync", "run", "outcome"], name="staged_customer_outcome")]

    def __str__(self) -> str:
        return f"customer {self.customer_id}"


class StagedContact(models.Model):
    """A customer contact from the contacts export: where a customer's email and phone come from."""

    sync = models.ForeignKey(CustomerSync, on_delete=models.CASCADE, related_name="contacts")
    contact_id = models.BigIntegerField()
    customer_id = models.BigIntegerField()
    type = models.CharField(max_length=20, blank=True)
    value = models.CharField(max_length=300, blank=True)
    active = models.BooleanField(default=True)
    modified_on = models.DateTimeField(null=True, blank=True)
    # The known-customer lookup's key (keys.py): "email" with the casefolded address, "phone" with its digits;
    # both "" for other contact types (fax) and values that are no phone.
    kind = models.CharField(max_length=5, blank=True)
    key = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("sync", "contact_id", name="staged_contact_once")]
        indexes = [
            models.Index(fields=["sync", "customer_id"], name="staged_contact_customer"),
            models.Index(fields=["sync", "kind", "key"], name="staged_contact_key"),
        ]

    def __str__(self) -> str:
        return f"{self.type} of customer {self.customer_id}"


class CustomerLink(models.Model):
    """This referrer is that ServiceTitan customer. One per (integration, customer): a customer synced twice is
    never two referrers. A referrer may stand for several customers (two customer records, one email)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="customer_links")
    customer_id = models.BigIntegerField()
    referrer = models.ForeignKey(Referrer, on_delete=models.CASCADE, related_name="servicetitan_customers")
    created_referrer = models.BooleanField(default=False)  # False: the referrer existed and was linked
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("integration", "customer_id", name="customer_link_once")]

    def __str__(self) -> str:
        return f"referrer {self.referrer_id} is customer {self.customer_id}"
