"""The Rewards tab's CSV export: written to a file and read back with the csv module, every cell that a
spreadsheet would run as a formula is neutralised, and the export follows the tab's filters."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from referloop.campaigns.models import Referrer
from referloop.rewards import actions
from referloop.rewards.export import HEADER, safe_cell
from tests.conftest import Tenant
from tests.rewards.conftest import friend, only_reward, qualify, rule

pytestmark = pytest.mark.django_db

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR"]


def download(tenant: Tenant, tmp_path: Path, **params: str) -> list[dict[str, str]]:
    """Fetch the export, write it to a file as a browser would, and read that file back."""
    response = tenant.client.get(reverse("rewards_export", args=[tenant.campaign.pk]), params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    path = tmp_path / "rewards.csv"
    path.write_bytes(response.content)
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert rows[0] == HEADER
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_cells_that_start_a_formula_are_prefixed_with_a_quote_when_the_file_is_read_back(
    tenant: Tenant, tmp_path: Path
) -> None:
    rule(tenant.campaign, kind="custom", amount=None, text="=1+1")
    referrer = Referrer.objects.create(
        campaign=tenant.campaign, first_name=HOSTILE[0], last_name="@evil", email="evil@x.example"
    )
    lead = friend(tenant, "Ana", referrer=referrer)
    lead.last_name = "-cmd|' /C calc'!A0"
    lead.save()
    qualify(lead)
    actions.issue(only_reward(lead), tenant.user, '+HYPERLINK("http://x")')

    (row,) = download(tenant, tmp_path)

    assert row["referrer_name"] == "'" + HOSTILE[0] + " @evil"
    assert row["recipient_name"] == row["referrer_name"]
    assert row["lead_name"] == "Ana -cmd|' /C calc'!A0"  # starts with a letter: left as it is
    assert row["reward"] == "'=1+1"
    assert row["issue_note"] == '\'+HYPERLINK("http://x")'
    assert row["state"] == "Issued"
    for cell in row.values():
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


@pytest.mark.parametrize("value", HOSTILE)
def test_each_dangerous_first_character_is_neutralised(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Maria", "50.00", "", "a=b", "1-2", "tom@x.example", "'quoted"])
def test_ordinary_cells_are_written_as_they_are(value: str) -> None:
    assert safe_cell(value) == value


def test_the_export_has_the_rewards_facts_and_follows_the_state_filter(tenant: Tenant, tmp_path: Path) -> None:
    rule(tenant.campaign, amount=Decimal("50.00"), currency="USD")
    qualify(tenant.lead)
    second = friend(tenant, "Ana")
    qualify(second)
    actions.cancel(only_reward(second), tenant.user, "Duplicate")

    every = download(tenant, tmp_path)
    due = download(tenant, tmp_path, state="due")

    assert len(every) == 2
    (row,) = due
    assert row["reward_id"] == str(only_reward(tenant.lead).pk)
    assert (row["amount"], row["currency"], row["state"]) == ("50.00", "USD", "Due")
    assert (row["recipient"], row["recipient_email"]) == ("Referrer", tenant.referrer.email)
    assert row["lead_email"] == tenant.lead.email
    assert {r["cancel_reason"] for r in every} == {"", "Duplicate"}


def test_a_member_may_export(tenant: Tenant, tmp_path: Path) -> None:
    from referloop.accounts.models import Role
    from tests.rewards.conftest import client_with_role

    member, _user = client_with_role(tenant, Role.MEMBER)

    response = member.get(reverse("rewards_export", args=[tenant.campaign.pk]))

    assert response.status_code == 200
