"""What a tenant holds before any request: customers, custom field types and pick lists, the same every time.

`seed_tenant` runs for every configured tenant when the sandbox starts and after each reset. Seeded records
carry fixed dates in 2024 (long past the export's 15-minute lag), so a first export finds them at once.
`generate_customers` makes many more from a seed, for benchmarks (20,000 in well under a second).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from referloop.sandbox.customers import Customer, NewContact
from referloop.sandbox.state import SandboxState

SEEDED_AT = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)

# The sandbox's job creation falls back to id 1 for each of these (state.convert_to_job), so 1 is active.
JOB_TYPES = [(1, "Service Call", True), (2, "AC Repair", True), (3, "Furnace Tune-Up", True),
             (4, "Water Heater Install", True), (5, "Duct Cleaning (retired)", False)]  # fmt: skip
BUSINESS_UNITS = [(1, "HVAC Service", True), (2, "Plumbing Service", True), (3, "Electrical", True),
                  (4, "Old Install Team", False)]  # fmt: skip
CAMPAIGNS = [(1, "Referral Program", True), (2, "Google Ads", True), (3, "Yard Signs", True),
             (4, "Spring Mailer 2023", False)]  # fmt: skip

VIP_TAG_ID = 501
MEMBER_TAG_ID = 502
# The tags the seeded customers carry (VIP, Maintenance Member), and one the office retired.
TAG_TYPES = [(VIP_TAG_ID, "VIP", True), (MEMBER_TAG_ID, "Maintenance Member", True), (503, "Warranty (old)", False)]
SHARED_PHONE = "(217) 555-0142"  # two customers of one household share it

# Custom field types (name, data type, options): the referrer sync writes the link, code and count back.
FIELD_TYPES = [("Referral Link", "Text", None), ("Referral Code", "Text", None), ("Referral Count", "Numeric", None),
               ("Preferred Technician", "Dropdown", ["Any", "Sam", "Alex"])]  # fmt: skip

_FIRST = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas", "Mia",
          "Mason", "Amelia", "Ethan", "Harper", "Logan", "Evelyn", "Aiden", "Abigail", "Jacob"]  # fmt: skip
_LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Lopez",
         "Hernandez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee"]  # fmt: skip
_STREETS = ["Oak", "Maple", "Cedar", "Pine", "Elm", "Lake", "Hill", "Park", "Walnut", "Spruce"]


def seed_tenant(state: SandboxState, tenant_id: int) -> None:
    """The demo data: 30 customers, their contacts, custom field types and the four pick lists."""
    catalog = state.catalog
    lists = (
        ("job_type", JOB_TYPES),
        ("business_unit", BUSINESS_UNITS),
        ("campaign", CAMPAIGNS),
        ("tag_type", TAG_TYPES),
    )
    for kind, items in lists:
        for item_id, name, active in items:
            catalog.put(kind, tenant_id, item_id, name, active=active, at=SEEDED_AT)
    for name, data_type, options in FIELD_TYPES:
        state.crm.add_field_type(tenant_id, name, data_type, options=options, at=SEEDED_AT)
    for n in range(30):
        _seed_customer(state, tenant_id, n)


def _seed_customer(state: SandboxState, tenant_id: int, n: int) -> Customer:
    first, last = _FIRST[n % len(_FIRST)], _LAST[(n * 7) % len(_LAST)]
    contacts: list[NewContact] = []
    if n % 5 != 4:  # every fifth customer has no email: the sync skips them
        contacts.append(NewContact("Email", f"{first}.{last}{n}@example.com".lower()))
    phone = SHARED_PHONE if n in (2, 3) else f"(217) 555-{1000 + n:04d}"
    contacts.append(NewContact("MobilePhone" if n % 2 else "Phone", phone))
    tags = [VIP_TAG_ID] if n % 6 == 0 else []
    if n % 10 == 1:
        tags.append(MEMBER_TAG_ID)
    # Created over 2024, one every 12 days, so "created after a date" has something to cut.
    at = SEEDED_AT + timedelta(days=12 * n)
    return state.crm.add_customer(
        tenant_id,
        f"{first} {last}",
        contacts=contacts,
        tag_type_ids=tags,
        address=_address(n),
        active=n != 29,  # the last one was merged away: inactive, still in the export
        at=at,
    )


def generate_customers(state: SandboxState, tenant_id: int, count: int, *, seed: int = 1) -> list[Customer]:
    """`count` more customers with emails (9 in 10) and phones, the same for the same seed. Stamped now, one
    after another, so an export hands them out in creation order."""
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)
    made = []
    for n in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        contacts = [NewContact("MobilePhone", f"({rng.randint(200, 989)}) 555-{rng.randint(0, 9999):04d}")]
        if rng.random() < 0.9:
            contacts.insert(0, NewContact("Email", f"{first}.{last}.s{seed}n{n}@example.net".lower()))
        tags = [VIP_TAG_ID] if rng.random() < 0.1 else []
        made.append(
            state.crm.add_customer(
                tenant_id, f"{first} {last}", contacts=contacts, tag_type_ids=tags, address=_address(n)
            )
        )
    return made


def _address(n: int) -> dict[str, str | None]:
    return {
        "street": f"{100 + n} {_STREETS[n % len(_STREETS)]} St",
        "unit": None,
        "city": "Springfield",
        "state": "IL",
        "zip": "62701",
        "country": "USA",
    }
