"""The referrer's own page: their link, code, QR code and share buttons, their friends' progress (first name and
where they stand, nothing else) and their own rewards; never another referrer's, in this campaign or another."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape
from urllib.parse import unquote

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from referloop.campaigns import outcomes, verification
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, CampaignStatus, Lead, LeadStage, Referrer
from referloop.portal import page
from referloop.rewards import actions
from referloop.rewards.models import Reward
from tests.conftest import Tenant
from tests.portal.helpers import signed_in
from tests.rewards.conftest import hold, qualify, rule

pytestmark = pytest.mark.django_db


def page_of(referrer: Referrer) -> str:
    response = signed_in(referrer).get(reverse("portal", args=[referrer.campaign.slug]))
    assert response.status_code == 200
    return response.content.decode()


def referred(campaign: Campaign, referrer: Referrer, first: str, last: str, phone: str = "") -> Lead:
    data = {"first_name": first, "last_name": last, "email": f"{first.lower()}.{last.lower()}@friends.example"}
    return submit_lead(campaign, referrer, {**data, "phone": phone}).lead


def reward_of(lead: Lead, recipient: str = "referrer") -> Reward:
    return Reward.objects.get(lead=lead, recipient=recipient)


def test_the_page_shows_the_link_code_qr_code_and_share_buttons(tenant: Tenant) -> None:
    referrer = tenant.referrer
    html = page_of(referrer)

    link = referrer.referral_url
    assert f'value="{link}" readonly' in html  # selectable without JavaScript
    assert referrer.code in html
    assert str(page.qr_svg(link)) in html and '<svg viewBox="0 0 ' in html
    mailto = unescape(re.search(r'href="(mailto:[^"]+)"', html).group(1))  # type: ignore[union-attr]
    assert mailto.startswith("mailto:?subject=") and link in unquote(mailto)
    assert f"{tenant.account.name} is offering you {tenant.campaign.offer_text}" in unquote(mailto)
    sms = unescape(re.search(r'href="(sms:[^"]+)"', html).group(1))  # type: ignore[union-attr]
    assert sms.startswith("sms:?&body=") and link in unquote(sms)
    assert 'data-copy="referral-link" hidden' in html  # shown by static/js/portal.js where the clipboard works
    assert tenant.account.name in html


def test_the_page_has_no_inline_script_or_style_and_is_never_cached(tenant: Tenant) -> None:
    response = signed_in(tenant.referrer).get(reverse("portal", args=[tenant.campaign.slug]))
    html = response.content.decode()

    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert " style=" not in html and "<style" not in html
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_friends_are_shown_newest_first_by_first_name_and_progress_only(tenant: Tenant) -> None:
    campaign, referrer = tenant.campaign, tenant.referrer
    older = referred(campaign, referrer, "Priya", "Shah", phone="512-555-0101")
    Lead.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=3))
    newest = referred(campaign, referrer, "Quentin", "Marsh", phone="512-555-0102")
    Lead.objects.filter(pk=newest.pk).update(stage=LeadStage.COMPLETED)
    outcomes.qualify_by_hand(newest, tenant.user, "Job done")

    html = page_of(referrer)

    friends = re.findall(r"<li><div><b>([^<]+)</b><div class=\"cell-note\">([^<]+)</div></div>"
                         r"<span class=\"badge [a-z_]+\">([^<]+)</span>", html)  # fmt: skip
    assert [(name, note.split(" · ")[0], status) for name, note, status in friends] == [
        ("Quentin", "Job completed", "Qualified"),
        ("Tom", "Signed up", "Pending"),
        ("Priya", "Signed up", "Pending"),
    ]
    for private in ("Shah", "Marsh", "Nguyen", "512-555-0101", "512-555-0102", "@friends.example", tenant.lead.email):
        assert private not in html


@pytest.mark.parametrize(
    ("status", "stage", "checked", "words"),
    [
        ("pending", "", verification.State.UNVERIFIED, "Waiting for them to confirm their email"),
        ("pending", "", verification.State.EXPIRED, "Didn't confirm their email"),
        ("pending", "", verification.State.NOT_ASKED, "Signed up"),
        ("pending", "booked", verification.State.VERIFIED, "Booked"),
        ("qualified", "completed", verification.State.NOT_ASKED, "Job completed"),
        ("qualified", "", verification.State.NOT_ASKED, "Counted as a successful referral"),
        ("not_qualified", "dismissed", verification.State.NOT_ASKED, "Booking dismissed"),
        ("not_qualified", "", verification.State.NOT_ASKED, "Not counted as a referral"),
    ],
)
def test_a_friends_progress_in_words(status: str, stage: str, checked: verification.State, words: str) -> None:
    assert page.progress(status, stage, checked) == words


def test_rewards_are_shown_with_their_state(tenant: Tenant) -> None:
    campaign, referrer = tenant.campaign, tenant.referrer
    rule(campaign, amount=Decimal("50.00"))
    names = ["Ana", "Ben", "Cy", "Dee"]
    leads = {name: referred(campaign, referrer, name, "Friend") for name in names}
    for lead in leads.values():
        outcomes.qualify_by_hand(lead, tenant.user, "Job done")
    actions.issue(reward_of(leads["Ben"]), tenant.user, note="Gift card 4417")
    actions.cancel(reward_of(leads["Cy"]), tenant.user, reason="Refunded")
    hold(campaign, days=30)
    outcomes.qualify_by_hand(tenant.lead, tenant.user, "Job done")  # Tom's: pending for 30 days

    html = page_of(referrer)

    states = dict(
        re.findall(r"Friend qualified: (\w+)</div>.*?<span class=\"badge reward-\w+\">(\w+)</span>", html, re.S)
    )
    assert states == {"Tom": "Pending", "Ana": "Due", "Ben": "Issued", "Cy": "Canceled", "Dee": "Due"}
    assert "Gift card 4417" in html  # the note sent with the reward is the referrer's
    assert "Refunded" not in html  # a cancel reason is the business's
    assert tenant.user.email not in html
    assert html.count("USD 50.00") == 5


def test_the_page_never_shows_another_referrers_data(tenant: Tenant, other_tenant: Tenant) -> None:
    campaign, maria = tenant.campaign, tenant.referrer
    rule(campaign, amount=Decimal("50.00"))
    rule(campaign, recipient="friend", kind="custom", text="Free filter for the friend FRIENDONLY")
    mine = referred(campaign, maria, "Wendy", "Walsh", phone="512-555-0111")
    outcomes.qualify_by_hand(mine, tenant.user, "Job done")
    actions.issue(reward_of(mine), tenant.user, note="MARIA-CARD-1")
    # Another referrer of the same campaign, with friends and rewards.
    zed = Referrer.objects.create(campaign=campaign, first_name="Zedediah", last_name="Quill", email="zed@example.com")
    theirs = [referred(campaign, zed, "Olga", "Brandt", phone="512-555-0222"), referred(campaign, zed, "Pim", "Voss")]
    outcomes.qualify_by_hand(theirs[0], tenant.user, "Job done")
    actions.issue(reward_of(theirs[0]), tenant.user, note="ZED-CARD-2")
    # The same person (Maria's email) as a referrer of another business, with friends and rewards there.
    twin = Referrer.objects.create(campaign=other_tenant.campaign, first_name="Maria", email=maria.email)
    rule(other_tenant.campaign, amount=Decimal("77.00"))
    elsewhere = referred(other_tenant.campaign, twin, "Xavier", "Ortiz")
    outcomes.qualify_by_hand(elsewhere, other_tenant.user, "Job done")
    actions.issue(reward_of(elsewhere), other_tenant.user, note="TWIN-CARD-3")
    assert maria.code in page_of(maria)

    html = page_of(maria)

    assert "Wendy" in html and "MARIA-CARD-1" in html and "Tom" in html
    never = [
        # the other referrer of this campaign, their friends and rewards
        zed.first_name, zed.last_name, zed.email, zed.code, "Olga", "Brandt", "Pim", "512-555-0222", "ZED-CARD-2",
        # the friends' own rewards
        "FRIENDONLY",
        # the same email's referrer at another business
        twin.code, "Xavier", "Ortiz", "USD 77.00", "TWIN-CARD-3", other_tenant.account.name,
        # anyone's contact details, Maria's own friends' included
        "Walsh", "512-555-0111", mine.email, tenant.lead.email, "Nguyen", tenant.user.email,
    ]  # fmt: skip
    assert [value for value in never if value in html] == []
    # And the other way round: Zed's page shows none of Maria's.
    zeds = page_of(zed)
    assert "Olga" in zeds and "ZED-CARD-2" in zeds
    assert [value for value in ("Wendy", "Tom", "MARIA-CARD-1", maria.code) if value in zeds] == []


def test_an_ended_programs_page_keeps_the_progress_and_drops_the_sharing(tenant: Tenant) -> None:
    Campaign.objects.filter(pk=tenant.campaign.pk).update(status=CampaignStatus.ARCHIVED)

    html = page_of(tenant.referrer)

    assert "This referral program has ended" in html
    assert "mailto:" not in html and "<svg" not in html
    assert "Tom" in html


def test_the_page_costs_the_same_queries_for_many_friends_and_rewards(tenant: Tenant) -> None:
    campaign, referrer = tenant.campaign, tenant.referrer
    rule(campaign, amount=Decimal("50.00"))
    client = signed_in(referrer)
    url = reverse("portal", args=[campaign.slug])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured.captured_queries)

    few = queries()
    for n in range(15):
        outcomes.qualify_by_hand(referred(campaign, referrer, f"Friend{n}", "X"), tenant.user, "Job done")

    assert queries() == few


def test_a_referrer_with_more_friends_than_shown_is_told_how_many(tenant: Tenant, settings: object) -> None:
    for n in range(page.FRIENDS_SHOWN + 1):  # Tom makes it FRIENDS_SHOWN + 2
        Lead.objects.create(
            campaign=tenant.campaign, referrer=tenant.referrer, first_name=f"F{n}", email=f"f{n}@x.example"
        )

    html = page_of(tenant.referrer)

    assert f"The {page.FRIENDS_SHOWN} most recent of {page.FRIENDS_SHOWN + 2} friends." in html


def test_anyone_not_signed_in_gets_the_sign_in_form(tenant: Tenant) -> None:
    response = Client().get(reverse("portal", args=[tenant.campaign.slug]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Email me a sign-in link" in html
    assert tenant.referrer.code not in html and "Tom" not in html


def test_a_percentage_reward_shows_the_referrer_the_amount_not_the_friends_invoice_total(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="percent", amount=None, percent=Decimal("10"), currency="USD")
    lead = referred(tenant.campaign, tenant.referrer, "Ana", "Friend")
    qualify(lead, invoice_total="480.00")

    html = page_of(tenant.referrer)

    assert "USD 48.00" in html
    assert "480" not in html and "10%" not in html
