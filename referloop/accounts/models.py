"""Users, the accounts (businesses) they belong to, invitations and API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """A person who logs in with an email address; belongs to one or more accounts."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email


class Account(models.Model):
    """A business using referloop. Every row a user can see belongs to exactly one account."""

    name = models.CharField(max_length=120)
    # In the footer of every email sent in the account's name (notifications/): the law on marketing mail
    # (CAN-SPAM) asks for the sender's physical postal address, so referrer emails wait until it is set.
    postal_address = models.CharField(
        "Business postal address",
        max_length=300,
        blank=True,
        help_text="Street, city, state and zip, as one line or several. Shown at the foot of every email.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="one_membership_per_account")]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} ({self.role})"

    @property
    def can_manage(self) -> bool:
        """Owners and admins invite members and manage API keys."""
        return self.role in {Role.OWNER, Role.ADMIN}


def hash_token(raw: str) -> str:
    """Tokens and API keys are stored as SHA-256 digests: they are long and random, so no salt is needed."""
    return hashlib.sha256(raw.encode()).hexdigest()


INVITATION_LIFETIME = timedelta(days=7)


class Invitation(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.account}"

    @property
    def is_usable(self) -> bool:
        return self.accepted_at is None and timezone.now() - self.created_at < INVITATION_LIFETIME


API_KEY_PREFIX = "rl_"


class ApiKey(models.Model):
    """A key for the REST API. The full key is shown once; only its hash and a short prefix are kept."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    @property
    def masked(self) -> str:
        return f"{self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def issue(cls, account: Account, name: str, created_by: User | None) -> tuple[ApiKey, str]:
        """Create a key and return it with the raw secret, which is never stored."""
        raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key = cls.objects.create(
            account=account, name=name, prefix=raw[:10], key_hash=hash_token(raw), created_by=created_by
        )
        return key, raw


class AccountChange(models.Model):
    """One row per change a person makes to how the account works (settings, rules, wordings, keys): who, when,
    where and what. Rewards, leads and integrations keep their own trails beside the records they change."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="changes")
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    area = models.CharField(max_length=60)  # where the change was made: "Reward rules", "Emails", "API keys"
    summary = models.CharField(max_length=1000)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["account", "-at"], name="account_change_recent")]

    def __str__(self) -> str:
        return f"{self.area}: {self.summary}"
