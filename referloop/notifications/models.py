"""The emails referloop sends for a campaign, their per-campaign templates, and who unsubscribed.

An `Email` is what to send and to whom; the `Delivery` row that points at it (`Delivery.email`, written in the
same transaction) is how it is sent: the delivery engine claims it, retries it and records each try, like a
booking or a webhook event. So an email's state is its delivery's state.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from referloop.accounts.models import Account
from referloop.campaigns.models import Campaign, Lead, Referrer


class Notification(models.TextChoices):
    """The four emails of a campaign. The first three go to the referrer and are marketing mail."""

    FRIEND_JOINED = "friend_joined", "A friend joined"
    FRIEND_QUALIFIED = "friend_qualified", "A friend qualified"
    REWARD_ISSUED = "reward_issued", "A reward was issued"
    FRIEND_CONFIRMATION = "friend_confirmation", "Confirmation to the friend"


# Mail a referrer can opt out of (an unsubscribe link, List-Unsubscribe). The friend's confirmation answers the
# friend's own request, so it is transactional: it carries no unsubscribe link and an unsubscribe doesn't stop it.
MARKETING = frozenset({Notification.FRIEND_JOINED, Notification.FRIEND_QUALIFIED, Notification.REWARD_ISSUED})


class EmailTemplate(models.Model):
    """A campaign's wording of one notification, and whether it is sent at all. No row: the default, off."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="email_templates")
    notification = models.CharField(max_length=24, choices=Notification.choices)
    enabled = models.BooleanField(default=False)
    subject = models.CharField(max_length=200)
    body = models.TextField(max_length=5000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "notification"], name="email_template_per_notification")
        ]

    def __str__(self) -> str:
        return f"{self.get_notification_display()} for {self.campaign}"


class Email(models.Model):
    """One email to send: which notification, about whom, to which address.

    The text is rendered from the campaign's template when the worker sends it (so the account's current name
    and postal address are in the footer); `context` keeps what must be as it was when the email was queued
    (a reward as issued). `message_id` is the same on every try and on a resend. `key` makes each email once:
    a lead qualified, unqualified and qualified again gets one "qualified" email.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="emails")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="emails")
    # Whose referral it is about: the recipient of a referrer email, the referrer of the friend's confirmation.
    referrer = models.ForeignKey(Referrer, on_delete=models.CASCADE, related_name="emails")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="emails", null=True, blank=True)
    notification = models.CharField(max_length=24, choices=Notification.choices)
    to_email = models.EmailField(max_length=254)
    context = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(max_length=200, unique=True)
    key = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["referrer", "created_at"], name="email_by_referrer")]

    def __str__(self) -> str:
        return f"{self.get_notification_display()} to {self.to_email}"

    @property
    def marketing(self) -> bool:
        return self.notification in MARKETING


class UnsubscribeMethod(models.TextChoices):
    LINK = "link", "The unsubscribe link in an email"
    ONE_CLICK = "one_click", "Their mail app's unsubscribe button"


class Unsubscribe(models.Model):
    """An address that asked for no more referral emails from this account (any of its campaigns)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="unsubscribes")
    email = models.EmailField(max_length=254)  # lowercased
    referrer = models.ForeignKey(Referrer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    method = models.CharField(max_length=10, choices=UnsubscribeMethod.choices)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "email"], name="unsubscribe_once_per_account")]

    def __str__(self) -> str:
        return f"{self.email} unsubscribed from {self.account}"
