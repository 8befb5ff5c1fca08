"""The Rewards tab (filters, totals, roles, no query per row), Campaign Settings → Rewards (the rules), the lead
and referrer pages' rewards, and account isolation of every rewards screen."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from referloop.accounts.models import Role
from referloop.rewards import actions, codes
from referloop.rewards.models import Reward, RewardProgram, RewardRule, RewardState
from tests.conftest import Tenant
from tests.rewards.conftest import client_with_role, days_ago, friend, hold, only_reward, qualify, rule

pytestmark = pytest.mark.django_db


def text_of(response: HttpResponse) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def tab(tenant: Tenant, client: Client | None = None, **params: str) -> str:
    return text_of((client or tenant.client).get(reverse("rewards_tab", args=[tenant.campaign.pk]), params))


def settings_url(tenant: Tenant) -> str:
    return reverse("campaign_settings", args=[tenant.campaign.pk, "rewards"])


# -- the tab -----------------------------------------------------------------------------------------------------


def test_the_campaign_nav_has_a_rewards_tab(tenant: Tenant) -> None:
    page = text_of(tenant.client.get(reverse("lead_list", args=[tenant.campaign.pk])))

    assert f'href="{reverse("rewards_tab", args=[tenant.campaign.pk])}"' in page


def test_the_tab_filters_by_state(tenant: Tenant) -> None:
    rule(tenant.campaign)
    hold(tenant.campaign, 10)
    pending, due, issued = (friend(tenant, name) for name in ("Pendy", "Duey", "Issuey"))
    qualify(pending)
    qualify(due, at=days_ago(11))
    qualify(issued, at=days_ago(12))
    actions.issue(only_reward(issued), tenant.user, "Sent")

    def shown(state: str) -> set[str]:
        page = tab(tenant, state=state)
        return {name for name in ("Pendy", "Duey", "Issuey") if f"{name} Friend</a>" in page}

    assert shown("pending") == {"Pendy"}
    assert shown("due") == {"Duey"}
    assert shown("issued") == {"Issuey"}
    assert shown("canceled") == set()
    assert shown("") == {"Pendy", "Duey", "Issuey"}
    assert shown("nonsense") == {"Pendy", "Duey", "Issuey"}


def test_the_tab_filters_by_referrer(tenant: Tenant) -> None:
    from referloop.campaigns.models import Referrer

    rule(tenant.campaign)
    other = Referrer.objects.create(campaign=tenant.campaign, first_name="Lee", last_name="Ong", email="lee@x.example")
    qualify(tenant.lead)
    qualify(friend(tenant, "Ana", referrer=other))

    page = tab(tenant, referrer=str(other.pk))

    assert "Ana Friend</a>" in page and "Tom Nguyen</a>" not in page
    assert "Rewards through" in page and "Lee Ong" in page


def test_the_totals_show_due_now_and_issued_this_month_per_currency(tenant: Tenant) -> None:
    rule(tenant.campaign, amount=Decimal("50"), currency="USD")
    rule(tenant.campaign, "friend", amount=Decimal("20"), currency="CAD")
    leads = [tenant.lead, friend(tenant, "Ana"), friend(tenant, "Ben")]
    for lead in leads:
        qualify(lead)
    usd = Reward.objects.filter(currency="USD").order_by("pk")
    actions.issue(usd[0], tenant.user)
    old = usd[1]
    actions.issue(old, tenant.user)
    Reward.objects.filter(pk=old.pk).update(issued_at=timezone.now().replace(day=1) - timezone.timedelta(days=2))

    page = tab(tenant)

    due = page.split("Due now", 1)[1].split("Issued this month", 1)[0]
    issued = page.split("Issued this month", 1)[1].split("Pending (in the hold period)", 1)[0]
    assert "CAD 60.00" in due and "3 rewards" in due  # three friends' CAD 20
    assert "USD 50.00" in due and "1 reward" in due  # the one USD reward not issued
    assert "USD 50.00" in issued and "CAD" not in issued  # last month's issue is not this month's


def test_members_see_the_tab_but_cannot_issue_or_cancel(tenant: Tenant) -> None:
    rule(tenant.campaign)
    qualify(tenant.lead)
    reward = only_reward(tenant.lead)
    member, _user = client_with_role(tenant, Role.MEMBER)

    page = tab(tenant, member)
    assert "Tom Nguyen" in page
    assert "Only owners and admins can issue or cancel rewards." in page
    assert 'name="reward"' not in page

    bulk = reverse("rewards_bulk", args=[tenant.campaign.pk])
    assert member.post(bulk, {"action": "issue", "reward": [reward.pk]}).status_code == 403
    issue = reverse("reward_issue", args=[tenant.campaign.pk, reward.pk])
    assert member.post(issue, {"note": "x"}).status_code == 403
    cancel = reverse("reward_cancel", args=[tenant.campaign.pk, reward.pk])
    assert member.post(cancel, {"reason": "x"}).status_code == 403
    assert Reward.objects.get(pk=reward.pk).state is RewardState.DUE
    detail = text_of(member.get(reverse("reward_detail", args=[tenant.campaign.pk, reward.pk])))
    assert "Only owners and admins can issue or cancel rewards." in detail


def test_an_admin_issues_rewards(tenant: Tenant) -> None:
    rule(tenant.campaign)
    qualify(tenant.lead)
    reward = only_reward(tenant.lead)
    admin, user = client_with_role(tenant, Role.ADMIN)

    admin.post(reverse("rewards_bulk", args=[tenant.campaign.pk]), {"action": "issue", "reward": [reward.pk]})

    reward.refresh_from_db()
    assert (reward.state, reward.issued_by) == (RewardState.ISSUED, user)


def test_the_tab_makes_the_same_number_of_queries_for_5_and_50_rewards(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="code", amount=None)
    rule(tenant.campaign, "friend", amount=Decimal("10"))
    codes.add(RewardRule.objects.get(kind="code"), "\n".join(f"C{number}" for number in range(60)), tenant.user)

    def queries_for(count: int) -> int:
        while Reward.objects.filter(recipient="referrer").count() < count:
            lead = friend(tenant, f"F{Reward.objects.count()}x")
            qualify(lead)
            actions.issue(only_reward_of(lead, "referrer"), tenant.user, "batch")
        with CaptureQueriesContext(connection) as captured:
            tab(tenant)
        return len(captured)

    assert queries_for(5) == queries_for(50)


def only_reward_of(lead: object, recipient: str) -> Reward:
    return Reward.objects.get(lead=lead, recipient=recipient)


def test_the_tab_pages_fifty_rewards_at_a_time(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="custom", amount=None, text="Thanks")
    for number in range(51):
        qualify(friend(tenant, f"P{number}x"))

    first, second = tab(tenant), tab(tenant, page="2")

    assert first.count('name="reward" value=') == 50
    assert second.count('name="reward" value=') == 1
    assert "Page 2 of 2" in second


def test_the_rewards_screens_use_no_inline_script_or_style(tenant: Tenant) -> None:
    rule(tenant.campaign)
    qualify(tenant.lead)
    reward = only_reward(tenant.lead)
    pages = [
        tab(tenant),
        text_of(tenant.client.get(reverse("reward_detail", args=[tenant.campaign.pk, reward.pk]))),
        text_of(tenant.client.get(settings_url(tenant))),
    ]
    for page in pages:
        assert " style=" not in page
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline <script>"
        assert not re.search(r"\son[a-z]+=", page), "an inline event handler"


def test_every_control_of_the_tab_has_a_label(tenant: Tenant) -> None:
    rule(tenant.campaign)
    qualify(tenant.lead)
    page = tab(tenant)

    for control in re.findall(r"<input[^>]*>", page):
        if 'type="hidden"' in control:
            continue
        found = re.search(r'id="([^"]+)"', control)
        labelled = "aria-label=" in control or (found and f'for="{found.group(1)}"' in page)
        assert labelled, control


# -- the lead and referrer pages ---------------------------------------------------------------------------------


def test_the_lead_page_lists_the_leads_rewards(tenant: Tenant) -> None:
    rule(tenant.campaign, amount=Decimal("50"))
    rule(tenant.campaign, "friend", kind="custom", amount=None, text="A free filter")
    qualify(tenant.lead)

    page = text_of(tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, tenant.lead.pk])))

    section = page.split('id="rewards-title"', 1)[1].split("</section>", 1)[0]
    assert "USD 50.00" in section and "for the referrer, Maria Lopez" in section
    assert "A free filter" in section and "for the friend, Tom Nguyen" in section
    assert "Reward earned by the referrer" in page  # on the lead's timeline too


def test_the_referrer_page_lists_the_rewards_earned_through_their_referrals(tenant: Tenant) -> None:
    rule(tenant.campaign, amount=Decimal("50"))
    qualify(tenant.lead)
    actions.issue(only_reward(tenant.lead), tenant.user, "Paid")

    page = text_of(tenant.client.get(reverse("referrer_detail", args=[tenant.campaign.pk, tenant.referrer.pk])))

    section = page.split('id="rewards-title"', 1)[1].split("</section>", 1)[0]
    assert "USD 50.00" in section and "Issued" in section and "(through Tom Nguyen)" in section


def test_the_lead_page_says_when_a_code_pool_is_empty(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="code", amount=None)
    qualify(tenant.lead)

    page = text_of(tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, tenant.lead.pk])))

    assert "Code pool is empty: upload codes" in page


# -- Campaign Settings → Rewards ---------------------------------------------------------------------------------


def rules_form(**changes: str) -> dict[str, str]:
    data = {
        "reward_description": "$50 for every friend who books",
        "hold_days": "14",
        "low_codes_at": "5",
        "referrer_kind": "fixed",
        "referrer_amount": "50",
        "referrer_currency": "usd",
        "friend_kind": "",
        "milestone_every": "",
        "joined_text": "",
    }
    data.update(changes)
    return data


def test_the_settings_save_the_rules_hold_and_public_description(tenant: Tenant) -> None:
    response = tenant.client.post(
        settings_url(tenant),
        rules_form(
            friend_kind="percent",
            friend_percent="5",
            milestone_every="5",
            milestone_kind="custom",
            milestone_text="A free tune-up",
            joined_text="A thank-you card",
        ),
    )

    assert response.status_code == 302
    tenant.campaign.refresh_from_db()
    assert tenant.campaign.reward_description == "$50 for every friend who books"
    program = RewardProgram.objects.get(campaign=tenant.campaign)
    assert (program.hold_days, program.low_codes_at) == (14, 5)
    found = {
        (rule.recipient, rule.trigger): (rule.kind, rule.amount, rule.currency, rule.percent, rule.text, rule.every)
        for rule in RewardRule.objects.filter(campaign=tenant.campaign)
    }
    assert found == {
        ("referrer", "qualified"): ("fixed", Decimal("50.00"), "USD", None, "", None),
        ("friend", "qualified"): ("percent", None, "USD", Decimal("5.00"), "", None),
        ("referrer", "milestone"): ("custom", None, "USD", None, "A free tune-up", 5),
        ("referrer", "joined"): ("custom", None, "USD", None, "A thank-you card", None),
    }
    page = text_of(tenant.client.get(settings_url(tenant)))
    assert 'value="A free tune-up"' in page and 'value="14"' in page


def test_a_rule_missing_its_amount_is_refused_naming_the_field(tenant: Tenant) -> None:
    response = tenant.client.post(settings_url(tenant), rules_form(referrer_amount=""))

    assert response.status_code == 400
    assert "Enter the amount of this reward." in html.unescape(response.content.decode())
    assert not RewardRule.objects.exists()


def test_a_bad_currency_is_refused(tenant: Tenant) -> None:
    response = tenant.client.post(settings_url(tenant), rules_form(referrer_currency="U$"))

    assert response.status_code == 400
    assert "three-letter currency code" in response.content.decode()


def test_turning_a_rule_off_stops_new_rewards_and_keeps_earned_ones(tenant: Tenant) -> None:
    tenant.client.post(settings_url(tenant), rules_form(hold_days="0"))
    qualify(tenant.lead)
    tenant.client.post(settings_url(tenant), rules_form(referrer_kind=""))

    qualify(friend(tenant, "Ana"))

    assert Reward.objects.count() == 1
    assert RewardRule.objects.get(trigger="qualified").kind == ""


def test_members_see_the_rules_disabled_and_cannot_change_them(tenant: Tenant) -> None:
    tenant.client.post(settings_url(tenant), rules_form())
    member, _user = client_with_role(tenant, Role.MEMBER)

    page = text_of(member.get(settings_url(tenant)))
    assert "Only owners and admins can change the reward rules." in page
    assert re.search(r'<input[^>]*name="referrer_amount"[^>]*disabled', page)

    response = member.post(settings_url(tenant), rules_form(referrer_amount="500"))
    assert response.status_code == 403
    assert RewardRule.objects.get(trigger="qualified").amount == Decimal("50.00")
    upload = reverse("reward_code_upload", args=[tenant.campaign.pk, "referrer"])
    assert member.post(upload, {"referrer-codes": "X"}).status_code == 403


# -- another account ---------------------------------------------------------------------------------------------


def test_another_accounts_rewards_screens_answer_404_and_change_nothing(tenant: Tenant, other_tenant: Tenant) -> None:
    rule(other_tenant.campaign, kind="code", amount=None)
    qualify(other_tenant.lead)
    theirs = only_reward(other_tenant.lead)
    codes.add(theirs.rule, "THEIRS-1", other_tenant.user)
    campaign = other_tenant.campaign.pk
    own = tenant.campaign.pk

    for url in (
        reverse("rewards_tab", args=[campaign]),
        reverse("rewards_export", args=[campaign]),
        reverse("reward_detail", args=[campaign, theirs.pk]),
        reverse("reward_detail", args=[own, theirs.pk]),
    ):
        assert tenant.client.get(url).status_code == 404, url
    for url, data in (
        (reverse("reward_issue", args=[campaign, theirs.pk]), {"note": "x"}),
        (reverse("reward_issue", args=[own, theirs.pk]), {"note": "x"}),
        (reverse("reward_cancel", args=[own, theirs.pk]), {"reason": "x"}),
        (reverse("rewards_bulk", args=[campaign]), {"action": "issue", "reward": [theirs.pk]}),
        (reverse("reward_code_upload", args=[campaign, "referrer"]), {"referrer-codes": "MINE"}),
        (reverse("campaign_settings", args=[campaign, "rewards"]), rules_form()),
    ):
        assert tenant.client.post(url, data).status_code == 404, url
    assert Reward.objects.get(pk=theirs.pk).state is RewardState.DUE
    assert list(theirs.rule.codes.values_list("code", flat=True)) == ["THEIRS-1"]
    assert RewardRule.objects.get(campaign=other_tenant.campaign).kind == "code"
    assert "THEIRS" not in tab(tenant) and "Tom Nguyen" not in tab(tenant)
