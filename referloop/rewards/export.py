"""The Rewards tab's CSV export, with every cell safe to open in a spreadsheet.

A cell that begins with = + - @ (or a tab or carriage return, which some spreadsheets skip before reading a
formula) would run as a formula when the file is opened: a friend named "=HYPERLINK(…)" must stay text. Such a
cell is prefixed with a single quote, as OWASP recommends; every other cell is written as it is.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from referloop.rewards.models import Reward, state_at

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER = [
    "reward_id", "state", "recipient", "recipient_name", "recipient_email", "referrer_name", "referrer_email",
    "referrer_code", "lead_name", "lead_email", "occasion", "kind", "reward", "amount", "currency", "code",
    "earned_at", "due_at", "issued_at", "issued_by", "issue_note", "canceled_at", "canceled_by", "cancel_reason",
]  # fmt: skip


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def when(value: datetime | None) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def row_of(reward: Reward, now: datetime) -> list[object]:
    person = reward.recipient_person
    return [
        reward.pk,
        state_at(reward.status, reward.due_at, now).label,
        reward.get_recipient_display(),
        person.full_name,
        person.email,
        reward.referrer.full_name,
        reward.referrer.email,
        reward.referrer.code,
        reward.lead.full_name,
        reward.lead.email,
        reward.occasion,
        reward.get_kind_display(),
        reward.summary,
        "" if reward.amount is None else f"{reward.amount:.2f}",
        reward.currency,
        reward.code,
        when(reward.created_at),
        when(reward.due_at),
        when(reward.issued_at),
        reward.issued_by.email if reward.issued_by else "",
        reward.issue_note,
        when(reward.canceled_at),
        reward.canceled_by.email if reward.canceled_by else "",
        reward.cancel_reason,
    ]


def rows(found: QuerySet[Reward]) -> Iterator[list[str]]:
    now = timezone.now()
    yield HEADER
    for reward in found.iterator(chunk_size=500):
        yield [safe_cell(value) for value in row_of(reward, now)]


def write(found: QuerySet[Reward], out: object) -> None:
    """Write the rewards as CSV to `out` (anything with `write`, such as an HttpResponse)."""
    writer = csv.writer(out)  # type: ignore[arg-type]
    lines: Iterable[list[str]] = rows(found)
    writer.writerows(lines)
