"""What one ServiceTitan customer becomes under the sync's settings (pure rules, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from referloop.integrations.servicetitan.customer_sync.choose import (
    ContactFacts,
    CustomerFacts,
    NewReferrer,
    Settings,
    decide,
)
from referloop.integrations.servicetitan.customer_sync.models import Outcome

ALL = Settings("all", None, None, False, "split", "first", "mobile")


def customer(name: str = "Rita  Anne Referrer", active: bool = True, tags: tuple[int, ...] = ()) -> CustomerFacts:
    return CustomerFacts(1, name, active, tags, datetime(2024, 3, 1, tzinfo=UTC))


def contact(n: int, kind: str, value: str, active: bool = True, day: int = 1) -> ContactFacts:
    return ContactFacts(n, kind, value, active, datetime(2024, 1, day, tzinfo=UTC))


def test_the_name_is_split_at_the_first_space_and_the_email_lower_cased() -> None:
    contacts = [contact(1, "Email", " Rita@Example.COM "), contact(2, "Phone", "217 555 0100")]
    assert decide(ALL, customer(), contacts).referrer == NewReferrer(
        "Rita", "Anne Referrer", "rita@example.com", "217 555 0100"
    )


def test_the_settings_choose_the_whole_name_the_latest_email_and_the_phone_first() -> None:
    settings = Settings("all", None, None, False, "whole", "latest", "phone")
    contacts = [
        contact(1, "Email", "old@example.com", day=1),
        contact(2, "Email", "new@example.com", day=9),
        contact(3, "MobilePhone", "555 0001"),
        contact(4, "Phone", "555 0002"),
    ]
    assert decide(settings, customer(), contacts).referrer == NewReferrer(
        "Rita Anne Referrer", "", "new@example.com", "555 0002"
    )


def test_customers_are_skipped_with_the_reason() -> None:
    email = [contact(1, "Email", "a@example.com")]
    assert decide(ALL, customer(), []).skipped == Outcome.NO_EMAIL
    assert decide(ALL, customer(), [contact(1, "Email", "a@example.com", active=False)]).skipped == Outcome.NO_EMAIL
    assert decide(ALL, customer(), [contact(1, "Email", "not an email")]).skipped == Outcome.BAD_EMAIL
    assert decide(ALL, customer(name="  "), email).skipped == Outcome.NO_NAME
    assert decide(ALL, customer(active=False), email).skipped == Outcome.INACTIVE
    with_inactive = Settings("all", None, None, True, "split", "first", "none")
    assert decide(with_inactive, customer(active=False), email).referrer is not None


def test_the_tag_and_the_creation_date_choose_customers() -> None:
    email = [contact(1, "Email", "a@example.com")]
    tagged = Settings("tag", 501, None, False, "split", "first", "none")
    assert decide(tagged, customer(tags=(501, 7)), email).referrer is not None
    assert decide(tagged, customer(tags=(502,)), email).skipped == Outcome.NOT_SELECTED
    since = Settings("created_after", None, date(2024, 3, 1), False, "split", "first", "none")
    assert decide(since, customer(), email).referrer is not None  # created that very day counts
    later = Settings("created_after", None, date(2024, 3, 2), False, "split", "first", "none")
    assert decide(later, customer(), email).skipped == Outcome.NOT_SELECTED
