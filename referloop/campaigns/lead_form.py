"""The lead form of one campaign: the standard fields plus the campaign's custom fields.

Every intake path validates with this form, so the web form, the API and CSV imports agree on what a valid lead
is. Custom fields are named `custom_<key>` here; `custom_data` holds them by key, JSON-ready.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django import forms

from referloop.campaigns import custom_fields
from referloop.campaigns.models import Campaign, CustomField, CustomFieldType
from referloop.providers.phones import MIN_DIGITS, is_phone_number

CUSTOM_PREFIX = "custom_"
STANDARD_FIELDS = ("first_name", "last_name", "email", "phone", "street", "city", "state", "zip_code", "notes")


class LeadDataForm(forms.Form):
    first_name = forms.CharField(label="First Name", max_length=80)
    last_name = forms.CharField(label="Last Name", max_length=80, required=False)
    email = forms.EmailField(label="Email", max_length=254)
    phone = forms.CharField(label="Phone", max_length=40, required=False)
    street = forms.CharField(label="Street", max_length=200, required=False)
    city = forms.CharField(label="City", max_length=100, required=False)
    state = forms.CharField(label="State", max_length=100, required=False)
    zip_code = forms.CharField(label="Zip", max_length=20, required=False)
    notes = forms.CharField(label="Notes", max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, campaign: Campaign, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        self.custom_fields = list(custom_fields.of_campaign(campaign.pk))
        for custom in self.custom_fields:
            self.fields[CUSTOM_PREFIX + custom.key] = form_field_for(custom)

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()

    def clean_phone(self) -> str:
        """Refused here, at intake, rather than failing the booking later (a CSR can't call "555")."""
        phone = str(self.cleaned_data.get("phone") or "").strip()
        if phone and not is_phone_number(phone):
            raise forms.ValidationError(f"Enter a phone number with at least {MIN_DIGITS} digits.")
        return phone

    def custom_data(self) -> dict[str, Any]:
        return {
            custom.key: to_json_value(self.cleaned_data.get(CUSTOM_PREFIX + custom.key))
            for custom in self.custom_fields
            if self.cleaned_data.get(CUSTOM_PREFIX + custom.key) not in (None, "")
        }

    def standard_data(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in STANDARD_FIELDS}


def form_field_for(custom: CustomField) -> forms.Field:
    common: dict[str, Any] = {"label": custom.label, "required": custom.required}
    if custom.field_type == CustomFieldType.NUMBER:
        return forms.DecimalField(max_digits=18, decimal_places=6, **common)
    if custom.field_type == CustomFieldType.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if custom.field_type == CustomFieldType.SELECT:
        choices = [("", "Choose…")] + [(c, c) for c in custom.choice_list]
        return forms.ChoiceField(choices=choices, **common)
    if custom.field_type == CustomFieldType.CHECKBOX:
        return forms.BooleanField(**common)
    return forms.CharField(max_length=500, **common)


def to_json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value
