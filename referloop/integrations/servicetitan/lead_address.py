"""The lead forms a person fills (the public referral form, add-lead-by-hand) ask for a whole address or none,
when a ServiceTitan booking of the campaign would carry it.

The API and CSV take what they are given instead: there the payload builder leaves a partial address out of the
booking and the attempt says so (providers/servicetitan/payload.py). A person at a form can fix it now, so the
form asks; either way the lead is never a failed delivery because of it.
"""

from __future__ import annotations

import functools

from referloop.campaigns.lead_form import CUSTOM_PREFIX, LeadDataForm
from referloop.integrations.models import Integration, LeadAction, Provider
from referloop.integrations.records import custom_fields_of
from referloop.providers.mapping import LeadRecord
from referloop.providers.servicetitan.payload import join_words, missing_address_parts
from referloop.runtime import plain_sql

# The lead-form field each lead source key is typed into (custom sources: `custom.<key>` → `custom_<key>`).
_FORM_FIELDS = {"lead.street": "street", "lead.city": "city", "lead.state": "state", "lead.zip": "zip_code"}


def require_whole_address(form: LeadDataForm) -> bool:
    """For a valid form: True if its address is whole or empty for every booking the campaign sends; else adds
    an error naming the missing parts ("Add the city, state and zip, or leave the address empty.") and is False.
    """
    record = _record_of(form)
    column = functools.partial(plain_sql.column, Integration)  # plain SQL: every referral-form post asks
    integrations = plain_sql.instances(
        Integration,
        f"{column('campaign_id')} = %s AND {column('provider')} = %s AND {column('lead_action')} = %s",
        [form.campaign.pk, Provider.SERVICETITAN, LeadAction.CREATE_BOOKING],
    )
    custom = custom_fields_of(form.campaign)
    for integration in integrations:
        mapping = integration.mapping()
        missing = missing_address_parts(mapping, record, custom)
        if missing:
            labels = [field.label.lower() for field in missing]
            fields = [_form_field(mapping[field.key].source) if field.key in mapping else None for field in missing]
            where = next((name for name in fields if name and name in form.fields), None)
            form.add_error(where, f"Add the {join_words(labels)}, or leave the address empty.")
            return False
    return True


def _record_of(form: LeadDataForm) -> LeadRecord:
    data = form.standard_data()
    record: dict[str, object] = {f"lead.{name}": value for name, value in data.items() if name != "zip_code"}
    record["lead.zip"] = data["zip_code"]
    record.update({f"custom.{key}": value for key, value in form.custom_data().items()})
    return record


def _form_field(source: str) -> str | None:
    source = source.strip()
    if source.startswith("custom."):
        return CUSTOM_PREFIX + source.removeprefix("custom.")
    return _FORM_FIELDS.get(source)
