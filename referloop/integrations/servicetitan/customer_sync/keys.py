"""The known-customer key of a staged contact: how a lead's email or phone is matched against the contacts copy.

The same normalisation as the lookup's (`known_customers.keys_of`): emails casefolded, phones as their digits
without a US +1 (`phone_digits`). Other contact types (fax) and phones too short to be one get no key.
"""

from __future__ import annotations

from referloop.providers.servicetitan.customer_models import PHONE_TYPES
from referloop.providers.servicetitan.first_time import phone_digits

EMAIL = "email"
PHONE = "phone"


def contact_key(contact_type: str, value: str) -> tuple[str, str]:
    """(kind, key), or ("", "") for a contact no lead can match."""
    if contact_type == "Email":
        email = value.strip().casefold()
        return (EMAIL, email[:300]) if email else ("", "")
    if contact_type in PHONE_TYPES:
        digits = phone_digits(value)
        return (PHONE, digits[:300]) if digits else ("", "")
    return ("", "")
