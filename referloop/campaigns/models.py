"""Campaigns, their lead-form fields, referrers and leads."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from referloop.accounts.models import Account
from referloop.campaigns.codes import unique_code
from referloop.runtime import plain_sql

# `email__lower="x@example.com"` compares LOWER(email), the expression the unique indexes below are built on, so
# the lookup is an index seek. `email__iexact` is not (LIKE on SQLite, UPPER() on PostgreSQL): a scan of the
# campaign's leads per lookup, which made a large CSV import quadratic.
models.CharField.register_lookup(Lower)


class CampaignStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class Campaign(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True, help_text="Used in public links: /c/<slug>/join")
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.ACTIVE)
    offer_text = models.CharField(
        max_length=300,
        default="$50 off your first service call",
        help_text="What a referred friend gets. Shown as “{first name} is offering you …”.",
    )
    page_intro = models.TextField(max_length=2000, blank=True, help_text="A short paragraph under the offer.")
    thank_you_text = models.CharField(
        max_length=300, default="Thanks! We'll be in touch shortly to schedule your visit."
    )
    reward_description = models.CharField(
        max_length=300, default="$50 gift card for every friend who books a job", help_text="What a referrer earns."
    )
    public_submissions_per_hour = models.PositiveIntegerField(
        "Public form limit per hour",
        default=200,
        validators=[MinValueValidator(1)],
        help_text="The most sign-ups, and the most leads, the public join and referral pages accept in one hour "
        "(each page counted on its own); more are asked to try again later. Raise it before a big promotion.",
    )
    verify_friend_email = models.BooleanField(
        "Verify the friend's email before booking",
        default=False,
        help_text="A friend who fills in the referral page gets an email with a link to confirm their address; "
        "the lead is sent to your integrations only once it is confirmed (links expire after 7 days). "
        "Leads you add, import or send through the API are not asked. Turning it off applies to new leads; "
        "confirm the ones already waiting by hand on their page.",
    )
    existing_customers_never_qualify = models.BooleanField(
        "Existing customers never qualify for a reward",
        default=True,
        help_text="When Is First Time Client comes From ServiceTitan and the friend turns out to be one of your "
        "ServiceTitan customers already, the lead is marked Not qualified (the booking is still created). "
        "You can still qualify such a lead by hand.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("campaign_detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status == CampaignStatus.ACTIVE

    @property
    def join_url(self) -> str:
        return settings.PUBLIC_BASE_URL + reverse("referrer_join", args=[self.slug])

    @property
    def referrer_page_url(self) -> str:
        """Where a referrer signs in to see their friends' progress and rewards (referloop/portal)."""
        return settings.PUBLIC_BASE_URL + reverse("portal", args=[self.slug])


class CustomFieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    SELECT = "select", "Select"
    CHECKBOX = "checkbox", "Checkbox"


class CustomField(models.Model):
    """A campaign's own question on the lead form (“What system do you have?”)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="custom_fields")
    key = models.SlugField(max_length=40, help_text="Name used in the API and CSV columns, e.g. system_age")
    label = models.CharField(max_length=80)
    field_type = models.CharField(max_length=10, choices=CustomFieldType.choices, default=CustomFieldType.TEXT)
    required = models.BooleanField(default=False)
    choices = models.TextField(blank=True, help_text="For Select: one choice per line.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["campaign", "key"], name="custom_field_key_per_campaign")]

    def __str__(self) -> str:
        return self.label

    @property
    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]


class Referrer(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="referrers")
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80, blank=True)
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=40, blank=True)
    code = models.CharField(max_length=16, unique=True, editable=False)
    source = models.CharField(max_length=20, default="manual")
    # Who signed up on the public join page (abuse/client.py); empty for every other source.
    client_ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint("campaign", Lower("email"), name="referrer_email_per_campaign"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.code:
            self.code = unique_code(code_is_taken)
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def referral_url(self) -> str:
        return settings.PUBLIC_BASE_URL + reverse("referral_page", args=[self.code])


class LeadStatus(models.TextChoices):
    """Where the referral stands for the referrer: earns a reward (Qualified) or not (Not qualified)."""

    PENDING = "pending", "Pending"
    QUALIFIED = "qualified", "Qualified"
    REWARDED = "rewarded", "Rewarded"
    NOT_QUALIFIED = "not_qualified", "Not qualified"


# The statuses of a referral that qualified (a Rewarded one qualified first): the one definition.
QUALIFIED_STATUSES = (LeadStatus.QUALIFIED, LeadStatus.REWARDED)


class LeadStage(models.TextChoices):
    """How far the friend got in the business's CRM, as the follower last saw it (qualification/)."""

    NOT_BOOKED = "", "Not booked"
    BOOKED = "booked", "Booked"
    JOB = "job", "Job"
    COMPLETED = "completed", "Completed"
    PAID = "paid", "Paid"
    DISMISSED = "dismissed", "Booking dismissed"
    CANCELED = "canceled", "Job canceled"


class EmailVerification(models.TextChoices):
    """Whether the friend confirmed their email (campaigns/verification.py). Expired is not stored: an unverified
    lead older than the verification window is expired, so the deadline has one definition."""

    NOT_ASKED = "", "Not asked"
    UNVERIFIED = "unverified", "Unverified"
    VERIFIED = "verified", "Verified"


class LeadSource(models.TextChoices):
    FORM = "form", "Referral form"
    API = "api", "API"
    CSV = "csv", "CSV import"
    MANUAL = "manual", "Added by hand"
    ADMIN = "admin", "Admin"


class Lead(models.Model):
    """A referred friend, attributed to exactly one referrer; unique by email within a campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="leads")
    referrer = models.ForeignKey(Referrer, on_delete=models.PROTECT, related_name="leads")
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80, blank=True)
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=40, blank=True)
    street = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    zip_code = models.CharField(max_length=20, blank=True)
    notes = models.TextField(max_length=2000, blank=True)
    custom_data = models.JSONField(default=dict, blank=True)
    # The lead's own referral code: leads may refer too, and a CRM mapping uses it as External Id.
    code = models.CharField(max_length=16, unique=True, editable=False)
    status = models.CharField(max_length=15, choices=LeadStatus.choices, default=LeadStatus.PENDING)
    status_reason = models.CharField(max_length=300, blank=True)  # why Not qualified, or a by-hand change's reason
    stage = models.CharField(max_length=10, choices=LeadStage.choices, default=LeadStage.NOT_BOOKED, blank=True)
    # Set once, the first time the lead qualifies, never again (a re-opened job does not qualify it twice).
    qualified_at = models.DateTimeField(null=True, blank=True)
    qualified_by_rule = models.CharField(max_length=20, blank=True)  # a QualificationRule value, or "by_hand"
    qualification_facts = models.JSONField(default=dict, blank=True)  # what met the rule: job number, status, total
    # The ServiceTitan customer the friend already was, found before the booking was sent (known_customers.py).
    servicetitan_customer_id = models.BigIntegerField("ServiceTitan customer", null=True, blank=True)
    source = models.CharField(max_length=10, choices=LeadSource.choices, default=LeadSource.FORM)
    # Who posted the referral form (abuse/client.py); leads from the API, CSV and admin have none.
    client_ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    email_verification = models.CharField(
        max_length=10, choices=EmailVerification.choices, default=EmailVerification.NOT_ASKED, blank=True
    )
    verification_sent_at = models.DateTimeField(null=True, blank=True)  # the last time the link was emailed
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Who confirmed the lead by hand (a friend who called in); empty when the friend clicked the link.
    email_verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    # Set by abuse.suspicious.flag_suspicious for the lead screens: why the lead looks like abuse, or "".
    suspicion = ""

    class Meta:
        constraints = [models.UniqueConstraint("campaign", Lower("email"), name="lead_email_per_campaign")]
        indexes = [
            models.Index(fields=["campaign", "status"]),
            models.Index(fields=["email"]),
            models.Index(fields=["campaign", "client_ip"], name="lead_campaign_client_ip"),
            models.Index(fields=["campaign", "email_verification"], name="lead_campaign_verification"),
            models.Index(fields=["campaign", "stage"], name="lead_campaign_stage"),
            # Issue 16 screens: the lead list newest first (SQLite otherwise sorts all the campaign's leads per
            # page); its Existing customers filter (a few percent of leads); Diagnose's referrals qualified in the
            # last 30 days (a lead qualifies once).
            models.Index(fields=["campaign", "created_at"], name="lead_campaign_created"),
            models.Index(
                fields=["campaign", "created_at"],
                condition=models.Q(servicetitan_customer_id__isnull=False),
                name="lead_existing_customer",
            ),
            models.Index(
                fields=["qualified_at"], condition=models.Q(qualified_at__isnull=False), name="lead_qualified"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.take_code()
        super().save(*args, **kwargs)

    def take_code(self) -> None:
        """The lead's own referral code, chosen once, before its first save."""
        if not self.code:
            self.code = unique_code(code_is_taken)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class LeadEvent(models.Model):
    """One change in a lead's story, written once, with who made it (None: referloop's follower): the audit
    trail of its stage and status, shown on the lead's timeline."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20)  # a LeadStage value, "qualified", "not_qualified", "pending", "stopped"
    title = models.CharField(max_length=200)
    detail = models.CharField(max_length=500, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["lead", "at"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.at:%Y-%m-%d %H:%M})"


def code_is_taken(code: str) -> bool:
    """Referrer and lead codes share one namespace, so /r/<code> always finds one person."""
    sql = (
        f"SELECT 1 FROM {plain_sql.table(Referrer)} WHERE {plain_sql.column(Referrer, 'code')} = %s "  # noqa: S608
        f"UNION ALL SELECT 1 FROM {plain_sql.table(Lead)} WHERE {plain_sql.column(Lead, 'code')} = %s"
    )
    return bool(plain_sql.fetch(sql, [code, code]))  # one plain statement: every new lead and referrer asks


class ImportKind(models.TextChoices):
    REFERRERS = "referrers", "Referrers"
    LEADS = "leads", "Leads"


class ImportJob(models.Model):
    """One uploaded CSV file, imported in chunks so progress can be shown and an interrupted import resumes."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="imports")
    kind = models.CharField(max_length=10, choices=ImportKind.choices)
    filename = models.CharField(max_length=200)
    content = models.TextField()
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    existing_count = models.PositiveIntegerField(default=0)
    row_errors = models.JSONField(default=list, blank=True)
    # Where the next row starts in `content` (a character offset) and the physical lines before it: each chunk
    # reads on from here instead of parsing the file again from the top (csv_import.RowCursor).
    next_offset = models.PositiveBigIntegerField(default=0)
    next_line = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import {self.filename}"

    @property
    def is_done(self) -> bool:
        return self.finished_at is not None

    @property
    def percent(self) -> int:
        return 100 if not self.total_rows else int(100 * self.processed_rows / self.total_rows)
