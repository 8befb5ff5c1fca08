"""Map Return Fields and "When referrer joins campaign": the Referrers tab's second form."""

from __future__ import annotations

from typing import Any

from django import forms

from referloop.integrations.servicetitan.return_fields.field_types import FieldTypes
from referloop.integrations.servicetitan.return_fields.models import JoinAction, ReturnFields

# Which data type each return field needs, and its label.
SLOTS = (
    ("link", "Referral link field", "Text"),
    ("code", "Referral code field", "Text"),
    ("count", "Qualified referrals count field (optional)", "Numeric"),
)


class ReturnFieldsForm(forms.Form):
    link = forms.TypedChoiceField(label="Referral link field", required=False, coerce=int, empty_value=None)
    code = forms.TypedChoiceField(label="Referral code field", required=False, coerce=int, empty_value=None)
    count = forms.TypedChoiceField(
        label="Qualified referrals count field (optional)", required=False, coerce=int, empty_value=None
    )
    join_action = forms.ChoiceField(
        label="When referrer joins campaign", choices=JoinAction.choices, widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, types: FieldTypes, instance: ReturnFields | None = None, **kwargs: Any) -> None:
        if instance is not None and not args and "initial" not in kwargs:
            kwargs["initial"] = {
                "link": instance.link_field_id,
                "code": instance.code_field_id,
                "count": instance.count_field_id,
                "join_action": instance.join_action,
            }
        kwargs.setdefault("initial", {}).setdefault("join_action", JoinAction.NOTHING)
        super().__init__(*args, **kwargs)
        self.types = types
        choices = [("", "Don't write")] + [
            (str(type_id), f"{name} ({data_type})") for type_id, name, data_type in types.items
        ]
        for key, _, _ in SLOTS:
            field = self.fields[key]
            assert isinstance(field, forms.TypedChoiceField)
            field.choices = choices
            chosen = getattr(instance, f"{key}_field_id", None) if instance is not None else None
            if chosen is not None and types.get(chosen) is None:  # kept visible even if ServiceTitan lost it
                field.choices = [*choices, (str(chosen), f"{getattr(instance, f'{key}_field_name')} (not found)")]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for key, label, wanted in SLOTS:
            type_id = cleaned.get(key)
            if type_id is None:
                continue
            found = self.types.get(type_id)
            if found is None:
                self.add_error(key, f"{label}: custom field {type_id} is not in ServiceTitan's list; choose another.")
            elif found[2] != wanted:
                self.add_error(
                    key,
                    f"{label}: \u201c{found[1]}\u201d is a {found[2] or 'untyped'} field; choose a {wanted} field.",
                )
        return cleaned

    def apply(self, returns: ReturnFields) -> list[str]:
        """Copy the choices onto `returns`; what changed, as phrases for the change history."""
        changes = []
        for key, label, _ in SLOTS:
            type_id = self.cleaned_data.get(key)
            found = self.types.get(type_id) if type_id is not None else None
            name = found[1] if found is not None else ""
            if getattr(returns, f"{key}_field_id") != type_id:
                changes.append(f"{label.removesuffix(' (optional)')} → {name or 'not written'}")
            setattr(returns, f"{key}_field_id", type_id)
            setattr(returns, f"{key}_field_name", name)
        action = self.cleaned_data["join_action"]
        if returns.join_action != action:
            changes.append(f"When referrer joins campaign → {JoinAction(action).label}")
        returns.join_action = action
        return changes
