"""One row per emailed sign-in link: only the hash of its secret is kept (links.py says why)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from referloop.campaigns.models import Referrer


class SignInLink(models.Model):
    """A one-time link to a referrer's page. `used_at` is set once, by a conditional UPDATE (links.use)."""

    referrer = models.ForeignKey(Referrer, on_delete=models.CASCADE, related_name="sign_in_links")
    token_hash = models.CharField(max_length=64, unique=True)  # sha256 of the link's secret, hex
    # The address it was emailed to: if the owner corrects the referrer's email meanwhile, the link stops working.
    sent_to = models.EmailField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["referrer", "expires_at"], name="portal_link_referrer_expiry")]

    def __str__(self) -> str:
        return f"sign-in link {self.pk} of referrer {self.referrer_id}"
