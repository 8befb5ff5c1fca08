"""Is First Time Client *From ServiceTitan*: the booking says No when the lead is already one of the tenant's customers.

The mapping stores the choice as a Manual Select value that names its fallback ("From ServiceTitan, else Yes"):
what is sent when ServiceTitan cannot answer in time. Who the lead is comes from a lookup made before the booking
is sent (the Django side plans it at claim time, the connector makes at most one phone call); its answer travels in
the lead's record under `KNOWN_CUSTOMER`, and the payload builder reads `FIRST_TIME_SOURCE` from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..mapping import FieldMapping
from .fields import YES_NO

FIELD_KEY = "isFirstTimeClient"
LOOKUP_PREFIX = "From ServiceTitan, else "
# The Manual Select choices besides Yes and No, one per fallback value.
LOOKUP_CHOICES: tuple[str, ...] = tuple(LOOKUP_PREFIX + value for value in YES_NO)

# Record keys the lookup fills (never a lead-form source: they are not in the source catalog).
KNOWN_CUSTOMER = "servicetitan.known_customer"  # a Plan before the try, a Found after it
FIRST_TIME_SOURCE = "servicetitan.is_first_time_client"  # "Yes" or "No", when the lookup answered
# The longest a booking waits for the phone lookup (its turn in the tenant's pacing included) before it goes out
# with the fallback value.
LOOKUP_SECONDS = 5.0


def lookup_fallback(mapping: Mapping[str, FieldMapping]) -> str | None:
    """ "Yes" or "No" when the mapping asks ServiceTitan (what to send if it cannot answer), else None."""
    entry = mapping.get(FIELD_KEY)
    if entry is None or entry.data_type != "manual":
        return None
    return fallback_of(entry.source)


def fallback_of(manual_value: str) -> str | None:
    value = manual_value.strip()
    return value.removeprefix(LOOKUP_PREFIX) if value in LOOKUP_CHOICES else None


def manual_choices(key: str, allowed_values: tuple[str, ...]) -> tuple[str, ...]:
    """What Manual Select offers for a target field: its allowed values, plus the lookup for Is First Time Client."""
    return allowed_values + LOOKUP_CHOICES if key == FIELD_KEY else allowed_values


def phone_digits(phone: str) -> str | None:
    """A phone as the digits the lookup is keyed by: US numbers with or without +1 are the same ten digits.
    None when it has too few digits to be a phone number."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits if len(digits) >= 7 else None


@dataclass(frozen=True)
class Plan:
    """What the try has to do about the lead before building the booking.

    `customer_id` set: already known (local index or cache), no call. `ask_phone` set: one phone lookup.
    Neither: nobody matches (cached "no", or nothing to look up by), so the lead is a first-time client.
    """

    fallback: str
    customer_id: int | None = None
    matched_by: str = ""  # "email" or "phone", for the sentence on the lead
    ask_phone: str = ""  # normalised digits

    @property
    def calls(self) -> int:
        return 1 if self.ask_phone else 0


@dataclass(frozen=True)
class Found:
    """What the try learnt, for the Django side to keep (cache, the lead's mark). `failed` is the reason the
    lookup could not answer; then nothing is known and the fallback was sent."""

    customer_id: int | None
    matched_by: str = ""
    phone: str = ""  # the digits asked about, when a call was made (what the answer is cached under)
    asked: bool = False
    failed: str = ""

    def as_context(self) -> dict[str, object]:
        """For the attempt's request summary (JSON): what the try learnt, in plain values."""
        return {
            "customer_id": self.customer_id,
            "matched_by": self.matched_by,
            "phone": self.phone,
            "asked": self.asked,
            "failed": self.failed,
        }

    @classmethod
    def from_context(cls, value: object) -> Found | None:
        if not isinstance(value, Mapping):
            return None
        customer_id = value.get("customer_id")
        return cls(
            customer_id=customer_id if isinstance(customer_id, int) else None,
            matched_by=str(value.get("matched_by") or ""),
            phone=str(value.get("phone") or ""),
            asked=bool(value.get("asked")),
            failed=str(value.get("failed") or ""),
        )


def with_answer(record: Mapping[str, object], found: Found | None) -> Mapping[str, object]:
    """The lead's record with the lookup's Yes/No in it; unchanged when nothing is known (the fallback is sent)."""
    if found is None or found.failed:
        return record
    return {**record, FIRST_TIME_SOURCE: "No" if found.customer_id is not None else "Yes"}


def lookup_warning(reason: str, fallback: str) -> str:
    """For the attempt: the booking went out without the lookup's answer."""
    return (
        f"Is First Time Client: the lookup among the ServiceTitan customers failed ({reason.rstrip('.')}), "
        f"so the booking was sent with the fallback value {fallback}."
    )
