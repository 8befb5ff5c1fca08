"""Removing secrets (always) and personal data (unless asked to keep it) from anything that leaves referloop.

Three layers, because a request summary or ServiceTitan's error text can carry data under any name:
1. by key: `Authorization`, `ST-App-Key`, `client_secret`, `token`… are removed; `name`, `email`, `phone`,
   address parts and contact values are redacted;
2. by value: the integration's own secrets, and the known personal values of the leads and referrers involved
   (names, emails, phones, street, city, zip, notes), wherever they appear inside a string;
3. by shape: anything that looks like an email address, and `Bearer <token>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings

from referloop.campaigns.models import Lead

if TYPE_CHECKING:
    from referloop.integrations.models import Integration

REDACTED = "[redacted]"
REMOVED = "[secret removed]"

_SECRET_KEY = re.compile(r"authori[sz]ation|app[-_ ]?key|secret|token|password|cookie|api[-_ ]?key", re.IGNORECASE)
_PERSONAL_KEYS = {
    "name",
    "first_name",
    "last_name",
    "full_name",
    "firstname",
    "lastname",
    "fullname",
    "email",
    "phone",
    "mobilephone",
    "mobile_phone",
    "fax",
    "street",
    "unit",
    "city",
    "zip",
    "zip_code",
    "zipcode",
    "postal_code",
    "address",
    "notes",
    "custom_data",
    "lead_email",
    "referrer_email",
    "newest_lead_email",
}
# A contact's own value and note, whatever its type (ServiceTitan's contacts are {type, value, memo}).
_CONTACT_VALUES = {"value", "memo"}
_EMAIL = re.compile(r"[^@\s\"'<>(),;:\[\]]+@[^@\s\"'<>(),;:\[\]]+\.[A-Za-z]{2,}")
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_MIN_VALUE_LENGTH = 2
_MIN_SECRET_LENGTH = 6
_MIN_NUMBER_LENGTH = 5


def integration_secrets(integration: Integration) -> list[str]:
    """The server's and the integration's secrets, as they could appear inside a text."""
    candidates = [settings.SERVICETITAN_APP_KEY, settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEY]
    for read in (lambda: integration.client_secret, lambda: integration.own_app_key):
        try:
            candidates.append(read())
        except ValueError:  # stored with another key: then it can't leak from here either
            continue
    return [secret for secret in candidates if secret and len(secret) >= _MIN_SECRET_LENGTH]


def without_secrets(integration: Integration, text: str) -> str:
    """An error as shown to the account or stored to be shown: the server's and the integration's secrets and
    `Bearer` tokens removed, the rest kept (the account's own customers' data is theirs to see)."""
    return Redactor(secrets=integration_secrets(integration), keep_personal=True).text(text)


def personal_values(leads: Iterable[Lead]) -> set[str]:
    """Every personal value of these leads and their referrers, as it may appear inside other text."""
    values: set[str] = set()
    for lead in leads:
        referrer = lead.referrer
        candidates: list[object] = [
            lead.first_name,
            lead.last_name,
            lead.full_name,
            lead.email,
            lead.phone,
            lead.street,
            lead.city,
            lead.zip_code,
            lead.notes,
            referrer.first_name,
            referrer.last_name,
            referrer.full_name,
            referrer.email,
            referrer.phone,
            *(lead.custom_data or {}).values(),
        ]
        for value in candidates:
            text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
            # A short number ("12" years, a count) would eat dates and ids: only zip-length numbers and longer.
            if len(text) < (_MIN_NUMBER_LENGTH if text.isdigit() else _MIN_VALUE_LENGTH):
                continue
            values.add(text)
            digits = re.sub(r"\D", "", text)
            if len(digits) >= 7 and digits != text:
                values.add(digits)
    return values


class Redactor:
    def __init__(self, *, secrets: Iterable[str], personal: Iterable[str] = (), keep_personal: bool = False) -> None:
        self.keep_personal = keep_personal
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        known = sorted({p for p in personal if p}, key=len, reverse=True)
        self._personal = (
            re.compile("|".join(_value_pattern(value) for value in known), re.IGNORECASE)
            if known and not keep_personal
            else None
        )

    def clean(self, data: Any, key: str = "") -> Any:
        """A copy of JSON-like `data` with secrets removed and, unless kept, personal data redacted."""
        if key and _SECRET_KEY.search(key):
            return REMOVED if data not in (None, "", [], {}) else data
        if not self.keep_personal and key.casefold() in _PERSONAL_KEYS:
            return self._redact_all(data)
        if isinstance(data, dict):
            if not self.keep_personal and (_is_contact(data) or key.casefold() == "contacts"):
                return {
                    k: (self._redact_all(v) if k in _CONTACT_VALUES else self.clean(v, str(k))) for k, v in data.items()
                }
            return {k: self.clean(v, str(k)) for k, v in data.items()}
        if isinstance(data, list | tuple) and key.casefold() == "contacts":
            return [self.clean(item, key) for item in data]
        if isinstance(data, list | tuple):
            return [self.clean(item) for item in data]
        if isinstance(data, str):
            return self.text(data)
        return data

    def clean_values(self, data: Any) -> Any:
        """Like `clean`, but by value only: for data built here with masked secrets under names like client_secret."""
        if isinstance(data, dict):
            return {k: self.clean_values(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.clean_values(item) for item in data]
        return self.text(data) if isinstance(data, str) else data

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, REMOVED)
        value = _BEARER.sub(rf"\g<1>{REMOVED}", value)
        if self.keep_personal:
            return value
        if self._personal is not None:
            value = self._personal.sub(REDACTED, value)
        return _EMAIL.sub(REDACTED, value)

    def _redact_all(self, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: self._redact_all(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self._redact_all(item) for item in data]
        if data is None or data == "" or isinstance(data, bool):
            return data
        return REDACTED


def _is_contact(data: dict[Any, Any]) -> bool:
    return "value" in data and str(data.get("type", "")).casefold() in {"email", "phone", "mobilephone", "fax"}


def _value_pattern(value: str) -> str:
    escaped = re.escape(value)
    # Word boundaries keep "Tom" from eating "Tomorrow"; values that start or end in a symbol can't use them.
    start = r"\b" if value[0].isalnum() else ""
    end = r"\b" if value[-1].isalnum() else ""
    return f"{start}{escaped}{end}"
