"""What one ServiceTitan customer becomes under the sync's settings: a referrer's fields, or why it is skipped.

Pure functions of plain data (the staged customer and its contacts), so the rules are tested alone and every
caller (a customers page, a contacts page that brings a late email) decides the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from referloop.integrations.servicetitan.customer_sync.models import (
    EmailSource,
    NameSource,
    Outcome,
    PhoneSource,
    Selection,
)

NAME_LIMIT = 80  # Referrer.first_name / last_name
PHONE_LIMIT = 40
EMAIL_LIMIT = 254


@dataclass(frozen=True)
class Settings:
    selection: str
    tag_id: int | None
    created_after: date | None
    include_inactive: bool
    name_source: str
    email_source: str
    phone_source: str


@dataclass(frozen=True)
class CustomerFacts:
    customer_id: int
    name: str
    active: bool
    tag_type_ids: tuple[int, ...]
    created_on: datetime | None


@dataclass(frozen=True)
class ContactFacts:
    contact_id: int
    type: str
    value: str
    active: bool
    modified_on: datetime | None


@dataclass(frozen=True)
class NewReferrer:
    first_name: str
    last_name: str
    email: str  # lower-cased, as ReferrerForm stores it; "" only in Decision.follow (none in ServiceTitan)
    phone: str


@dataclass(frozen=True)
class Decision:
    referrer: NewReferrer | None  # None: skipped, `skipped` says why
    skipped: str = ""
    # Skipped for want of an email, but a referrer already linked to the customer (its email removed in
    # ServiceTitan) still follows its name and phone; its email stays. Never creates or links a referrer.
    follow: NewReferrer | None = None


def decide(settings: Settings, customer: CustomerFacts, contacts: Sequence[ContactFacts]) -> Decision:
    if not customer.active and not settings.include_inactive:
        return Decision(None, Outcome.INACTIVE)
    if not selected(settings, customer):
        return Decision(None, Outcome.NOT_SELECTED)
    live = [c for c in contacts if c.active and c.value.strip()]
    email = pick_email(settings.email_source, live)
    if email is None:
        first, last = split_name(settings.name_source, customer.name)
        kept = NewReferrer(first, last, "", pick_phone(settings.phone_source, live)) if first else None
        return Decision(None, Outcome.NO_EMAIL, follow=kept)
    if len(email) > EMAIL_LIMIT or not _valid_email(email):
        return Decision(None, Outcome.BAD_EMAIL)
    first, last = split_name(settings.name_source, customer.name)
    if not first:
        return Decision(None, Outcome.NO_NAME)
    return Decision(NewReferrer(first, last, email, pick_phone(settings.phone_source, live)))


def selected(settings: Settings, customer: CustomerFacts) -> bool:
    if settings.selection == Selection.TAG:
        return settings.tag_id is not None and settings.tag_id in customer.tag_type_ids
    if settings.selection == Selection.CREATED_AFTER:
        if settings.created_after is None or customer.created_on is None:
            return False
        return customer.created_on.date() >= settings.created_after
    return True


def pick_email(source: str, contacts: Sequence[ContactFacts]) -> str | None:
    emails = [c for c in contacts if c.type == "Email"]
    if not emails:
        return None
    if source == EmailSource.LATEST:
        chosen = max(emails, key=lambda c: (c.modified_on.timestamp() if c.modified_on else 0.0, c.contact_id))
    else:
        chosen = min(emails, key=lambda c: c.contact_id)
    return chosen.value.strip().lower()


def pick_phone(source: str, contacts: Sequence[ContactFacts]) -> str:
    if source == PhoneSource.NONE:
        return ""
    order = ("MobilePhone", "Phone") if source == PhoneSource.MOBILE else ("Phone", "MobilePhone")
    for kind in order:
        phones = sorted((c for c in contacts if c.type == kind), key=lambda c: c.contact_id)
        if phones:
            return phones[0].value.strip()[:PHONE_LIMIT]
    return ""


def split_name(source: str, name: str) -> tuple[str, str]:
    clean = " ".join(name.split())
    if source == NameSource.WHOLE:
        return clean[:NAME_LIMIT], ""
    first, _, last = clean.partition(" ")
    return first[:NAME_LIMIT], last[:NAME_LIMIT]


def _valid_email(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True
