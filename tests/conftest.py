"""Shared fixtures: accounts with an owner, a campaign with a custom field, referrers, leads and API keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from referloop.accounts.mail import wait_for_sending
from referloop.accounts.models import Account, ApiKey, Membership, Role, User
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, CustomField, CustomFieldType, Lead, Referrer
from referloop.sandbox import SandboxConfig
from referloop.sandbox.testing import SandboxHandle, running_sandbox
from tests.st_openapi import require_documents

PASSWORD = "correct-horse-battery-staple"


@dataclass
class Tenant:
    """One account with everything a test needs to act as it: owner, logged-in client, campaign, key."""

    user: User
    account: Account
    client: Client
    campaign: Campaign
    referrer: Referrer
    lead: Lead
    api_key: str

    def api(self) -> dict[str, Any]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.api_key}"}


def make_tenant(name: str, email: str, slug: str) -> Tenant:
    user = User.objects.create_user(email=email, password=PASSWORD)
    account = Account.objects.create(name=name)
    Membership.objects.create(user=user, account=account, role=Role.OWNER)
    campaign = Campaign.objects.create(account=account, name=f"{name} referrals", slug=slug)
    CustomField.objects.create(
        campaign=campaign,
        key="system_type",
        label="System type",
        field_type=CustomFieldType.SELECT,
        choices="Furnace\nHeat pump",
    )
    referrer = Referrer.objects.create(
        campaign=campaign, first_name="Maria", last_name="Lopez", email=f"maria@{slug}.example"
    )
    lead = submit_lead(
        campaign, referrer, {"first_name": "Tom", "last_name": "Nguyen", "email": f"tom@{slug}.example"}
    ).lead
    client = Client()
    client.force_login(user)
    _key, raw = ApiKey.issue(account, "tests", user)
    return Tenant(user, account, client, campaign, referrer, lead, raw)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Contract tests run only where ServiceTitan's documents are (see tests/servicetitan_contract.py)."""
    if item.get_closest_marker("st_openapi"):
        require_documents()


@pytest.fixture
def tenant(db: None) -> Tenant:
    return make_tenant("Comfort Pro", "owner@comfortpro.example", "comfort-pro")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return make_tenant("Rival Plumbing", "owner@rival.example", "rival-plumbing")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """The production hasher is slow on purpose; tests don't need that."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def emails_sent_after_the_response_stay_in_their_test() -> Iterator[None]:
    """An email a test's request handed to the send-after-response pool (accounts/mail.py) lands in that test's
    outbox, never in the next test's."""
    yield
    wait_for_sending()


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxHandle]:
    """One real sandbox over HTTP for the whole run; `sandbox` resets it for each test."""
    with running_sandbox(SandboxConfig.demo()) as handle:
        yield handle


@pytest.fixture
def sandbox(sandbox_server: SandboxHandle, settings: Any) -> SandboxHandle:
    """The shared sandbox with the demo tenant, default knobs and no bookings; integrations point at it."""
    demo = SandboxConfig.demo()
    sandbox_server.set(**demo.knobs())
    sandbox_server.config.tenants = demo.tenants
    sandbox_server.reset()
    settings.SERVICETITAN_ALLOW_SANDBOX = True
    settings.SERVICETITAN_SANDBOX_URL = sandbox_server.base_url
    settings.SERVICETITAN_ENVIRONMENT_OVERRIDES = {}
    return sandbox_server
