"""Issue 16 §2: each screen that lists rows runs as many SQL statements for three times the rows, so a query per
row (a lead's referrer, a delivery's lead, an error group's newest lead...) fails here instead of at 200,000 leads.

Rows are added in units of seven leads, one per lead stage, cycling through the statuses, email verification
states and delivery states, each with its own referrer, attempts, a followed booking once booked, and an Activity
row for a customer write and one for a referrer match; every filter of the lead list and Activity matches rows
at one unit and at three. Each count follows an uncounted request, so what a first request caches is not counted.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from referloop.campaigns import outcomes, verification
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import EmailVerification, Lead, LeadEvent, LeadStage, LeadStatus, Referrer
from referloop.campaigns.views import STAGE_FILTERS
from referloop.integrations.models import Attempt, AttemptOutcome, Delivery, DeliveryState, Follow, Integration
from referloop.integrations.servicetitan.return_fields.models import CustomerMatch, CustomerWrite
from referloop.runtime.demo import connect_demo_integration
from tests.conftest import Tenant
from tests.rewards.conftest import rule

STAGES = list(LeadStage.values)  # seven: one lead of each per unit
STATUSES = list(LeadStatus.values)
DELIVERY_STATES = list(DeliveryState.values)
CROWDED_IP = "203.0.113.9"  # five leads per unit from one address: more than SUSPICIOUS_LEADS_PER_IP (3)


def add_unit(tenant: Tenant, integration: Integration, unit: int) -> None:
    now = timezone.now()
    for j, stage in enumerate(STAGES):
        n = unit * len(STAGES) + j
        referrer = Referrer.objects.create(
            campaign=tenant.campaign, first_name="Ref", last_name=f"R{n}", email=f"ref{n}@refs.example"
        )
        lead = new_lead(tenant, referrer, n)
        status = STATUSES[j % len(STATUSES)]
        if status == LeadStatus.QUALIFIED:
            outcomes.qualify_by_hand(lead, tenant.user, "Called in")  # earns the referrer a reward (rule below)
        Lead.objects.filter(pk=lead.pk).update(
            stage=stage,
            status=status,
            client_ip=CROWDED_IP if j < 5 else f"198.51.100.{n % 250}",
            servicetitan_customer_id=1000 + n if j == 0 else None,
            email_verification=(
                EmailVerification.VERIFIED if j % 4 == 1 else EmailVerification.UNVERIFIED if j % 2 == 0 else ""
            ),
            # j == 2 and 6: unverified for longer than the window, i.e. Expired
            created_at=now - (verification.WINDOW + timedelta(days=1) if j % 4 == 2 else timedelta(minutes=n)),
        )
        state = DELIVERY_STATES[j % len(DELIVERY_STATES)]
        delivery = Delivery.objects.get(lead=lead, integration=integration)
        Delivery.objects.filter(pk=delivery.pk).update(
            state=state,
            attempt_count=2,
            last_error=f"ServiceTitan said no ({n})." if state in ("failed", "pending") else "",
            failed_at=now if state == DeliveryState.FAILED else None,
            delivered_at=now if state == DeliveryState.DELIVERED else None,
            remote_id=5000 + n if state == DeliveryState.DELIVERED else None,
            held_reason=f"Held for a reason ({n})." if state == DeliveryState.HELD else "",
        )
        for number in (1, 2):
            Attempt.objects.create(
                delivery=delivery,
                number=number,
                started_at=now,
                outcome=AttemptOutcome.TRANSIENT,
                warnings=[f"Left out the street ({n})."],
            )
        if stage:
            Follow.objects.create(
                integration=integration, lead=lead, booking_id=5000 + n, follow_until=now + timedelta(days=90)
            )
        LeadEvent.objects.create(lead=lead, kind="booked", title=f"Booked ({n})", user=tenant.user)
    add_customer_rows(tenant, integration, unit)
    grow_lead_page(tenant, unit)


def new_lead(tenant: Tenant, referrer: Referrer, n: int) -> Lead:
    data = {"first_name": "Ann", "last_name": f"Friend{n}", "email": f"friend{n}@friends.example"}
    return submit_lead(tenant.campaign, referrer, data).lead


def add_customer_rows(tenant: Tenant, integration: Integration, unit: int) -> None:
    """Activity's other kinds of row: a return-fields write and a referrer match (`Delivery.subject` reads them)."""
    write = CustomerWrite.objects.create(integration=integration, customer_id=7000 + unit)
    Delivery.objects.create(
        connector="st_customer", integration=integration, customer_write=write, state=DeliveryState.PENDING
    )
    referrer = Referrer.objects.create(campaign=tenant.campaign, first_name="Match", email=f"match{unit}@refs.example")
    match = CustomerMatch.objects.create(integration=integration, referrer=referrer)
    Delivery.objects.create(
        connector="st_customer", integration=integration, customer_match=match, state=DeliveryState.PENDING
    )


def grow_lead_page(tenant: Tenant, unit: int) -> None:
    """The lead page's lead (the tenant's own) gets two more attempts and events per unit: its timeline grows."""
    delivery = Delivery.objects.filter(lead=tenant.lead).first()
    assert delivery is not None
    for number in (2 * unit + 1, 2 * unit + 2):
        Attempt.objects.create(delivery=delivery, number=number, started_at=timezone.now(), outcome="transient")
        LeadEvent.objects.create(lead=tenant.lead, kind="booked", title=f"Event {number}", user=tenant.user)


def screens(tenant: Tenant) -> dict[str, str]:
    base = f"/campaigns/{tenant.campaign.pk}"
    leads = f"{base}/leads/"
    activity = f"{base}/integrations/servicetitan/activity/"
    found = {"overview": f"{base}/", "leads": leads, "leads page 2": f"{leads}?page=2"}
    found |= {f"leads status={s}": f"{leads}?status={s}" for s in STATUSES}
    found |= {f"leads stage={s}": f"{leads}?stage={s}" for s in STAGE_FILTERS}
    found |= {f"leads verification={s.value}": f"{leads}?verification={s.value}" for s in verification.State}
    found |= {
        "leads search": f"{leads}?q=friend",
        "leads suspicious": f"{leads}?suspicious=1",
        "leads existing": f"{leads}?existing=1",
        "activity": activity,
        "activity page 2": f"{activity}?page=2",
        "activity search": f"{activity}?q=friend",
        "lead page": f"{base}/leads/{tenant.lead.pk}/",
        "diagnose": f"{base}/integrations/servicetitan/diagnose/",
    }
    found |= {f"activity state={s}": f"{activity}?state={s}" for s in DELIVERY_STATES}
    return found


SCREEN_NAMES = [
    "overview",
    "leads",
    "leads page 2",
    *[f"leads status={s}" for s in STATUSES],
    *[f"leads stage={s}" for s in STAGE_FILTERS],
    *[f"leads verification={s.value}" for s in verification.State],
    "leads search",
    "leads suspicious",
    "leads existing",
    "activity",
    "activity page 2",
    *[f"activity state={s}" for s in DELIVERY_STATES],
    "activity search",
    "lead page",
    "diagnose",
]


def queries_for(tenant: Tenant, path: str) -> tuple[int, str]:
    """(SQL statements, page text) of the second of two requests."""
    assert tenant.client.get(path).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = tenant.client.get(path)
    assert response.status_code == 200, path
    return len(captured), response.content.decode()


@pytest.fixture
def integration(tenant: Tenant) -> Integration:
    """Connected (no network is used here), its mapping complete, so leads get pending deliveries."""
    rule(tenant.campaign)  # a qualified lead earns its referrer a reward: the lead page lists it
    integration = connect_demo_integration(tenant.campaign)
    Delivery.objects.create(
        integration=integration, lead=tenant.lead, state=DeliveryState.DELIVERED, rate_key=integration.rate_key
    )
    return integration


@pytest.mark.parametrize("name", SCREEN_NAMES)
def test_a_screen_runs_as_many_queries_for_three_times_the_rows(
    name: str, tenant: Tenant, integration: Integration
) -> None:
    path = screens(tenant)[name]
    add_unit(tenant, integration, 0)
    few, _page = queries_for(tenant, path)
    add_unit(tenant, integration, 1)
    add_unit(tenant, integration, 2)
    many, page = queries_for(tenant, path)
    assert many == few, f"{name}: {few} queries with one unit of rows, {many} with three"
    assert "friend" in page or name in ("lead page", "diagnose"), "the screen listed none of the rows"


def test_the_lists_show_each_leads_referrer_and_each_deliverys_subject(
    tenant: Tenant, integration: Integration
) -> None:
    """The rows the counts above were taken on are really on the pages (not an empty list counted twice)."""
    add_unit(tenant, integration, 0)
    _count, leads_page = queries_for(tenant, screens(tenant)["leads"])
    _count, activity_page = queries_for(tenant, screens(tenant)["activity"])
    for n in range(len(STAGES)):
        assert f"friend{n}@friends.example" in leads_page
        assert f"Ref R{n}" in leads_page
        assert f"friend{n}@friends.example" in activity_page
    assert "Return fields of customer 7000" in activity_page
    assert "match0@refs.example" in activity_page
