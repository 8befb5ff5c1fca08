"""What the owner chose on the Referrers tab, and the ServiceTitan customers referloop writes to.

Imported by `integrations/models.py`, so these are models of the integrations app: a Delivery row of the
"st_customer" connector points at an integration and either a `CustomerWrite` (PATCH a customer's return fields)
or a `CustomerMatch` (find the customer a referrer who just joined is), never both.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from referloop.campaigns.models import Referrer


class JoinAction(models.TextChoices):
    NOTHING = "nothing", "Nothing to action"
    LINK = "link", "Link to an existing ServiceTitan customer (by email or phone)"


class ReturnFields(models.Model):
    """Which customer custom field types receive the referrer's link, code and qualified count (ids and the
    names they had when chosen), and what happens when a referrer joins the campaign."""

    integration = models.OneToOneField("integrations.Integration", on_delete=models.CASCADE, related_name="returns")
    link_field_id = models.BigIntegerField(null=True, blank=True)
    link_field_name = models.CharField(max_length=200, blank=True)
    code_field_id = models.BigIntegerField(null=True, blank=True)
    code_field_name = models.CharField(max_length=200, blank=True)
    count_field_id = models.BigIntegerField(null=True, blank=True)
    count_field_name = models.CharField(max_length=200, blank=True)
    join_action = models.CharField(max_length=10, choices=JoinAction.choices, default=JoinAction.NOTHING)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"return fields of integration {self.integration_id}"

    @property
    def mapped(self) -> bool:
        return any(pk is not None for pk in (self.link_field_id, self.code_field_id, self.count_field_id))


class CustomerWrite(models.Model):
    """One ServiceTitan customer whose return fields referloop keeps up to date: at most one pending Delivery at a
    time. `requested` counts the changes asked for; a try reads the values when it is made and records which
    request it read (`written`), so a change made while a try was in flight gets a write of its own."""

    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="+")
    customer_id = models.BigIntegerField()
    requested = models.PositiveIntegerField(default=1)
    written = models.PositiveIntegerField(default=0)
    last_values = models.JSONField(default=dict, blank=True)  # {field name: value} the last delivered write put
    written_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("integration", "customer_id", name="customer_write_once")]

    def __str__(self) -> str:
        return f"return fields of customer {self.customer_id}"


class MatchOutcome(models.TextChoices):
    WAITING = "", "Looking for the customer"
    LINKED = "linked", "Linked"
    NOT_FOUND = "not_found", "No customer found"


class CustomerMatch(models.Model):
    """A referrer who joined (not through the customer sync) to be matched to a ServiceTitan customer."""

    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="+")
    referrer = models.ForeignKey(Referrer, on_delete=models.CASCADE, related_name="servicetitan_matches")
    outcome = models.CharField(max_length=10, choices=MatchOutcome.choices, blank=True)
    customer_id = models.BigIntegerField(null=True, blank=True)
    matched_by = models.CharField(max_length=10, blank=True)  # "email" or "phone"
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("integration", "referrer", name="customer_match_once")]

    def __str__(self) -> str:
        return f"match of referrer {self.referrer_id}"
