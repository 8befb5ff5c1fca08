"""What counts as a phone number: one rule for the lead forms (campaigns/lead_form.py), which refuse anything
else at intake, and the ServiceTitan payload builder (servicetitan/values.py), which must never be sent one."""

from __future__ import annotations

MIN_DIGITS = 7  # the shortest local number; an extension or a country code only adds digits


def is_phone_number(text: str) -> bool:
    return sum(ch.isdigit() for ch in text) >= MIN_DIGITS
