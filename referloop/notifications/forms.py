"""The Emails tab's forms: one notification's wording, and the account's postal address for the footer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from referloop.accounts.models import Account
from referloop.notifications.catalog import SPECS, problems
from referloop.providers.mapping import CustomSource


class WordingForm(forms.Form):
    """Four of these on one page, told apart by their prefix (the notification's name)."""

    enabled = forms.BooleanField(label="Send this email", required=False)
    subject = forms.CharField(max_length=200)
    body = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 10}))

    def __init__(self, *args: Any, notification: str, custom: Sequence[CustomSource], **kwargs: Any) -> None:
        kwargs["prefix"] = notification
        super().__init__(*args, **kwargs)
        self.notification = notification
        self.custom = list(custom)
        self.spec = SPECS[notification]

    def clean_subject(self) -> str:
        return self._checked("subject")

    def clean_body(self) -> str:
        return self._checked("body").replace("\r\n", "\n")

    def _checked(self, name: str) -> str:
        text = (self.cleaned_data.get(name) or "").strip()
        found = problems(self.notification, text, self.custom)
        if found:
            raise forms.ValidationError(found)
        return text


class PostalAddressForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["postal_address"]
        widgets = {"postal_address": forms.Textarea(attrs={"rows": 3})}

    def clean_postal_address(self) -> str:
        lines = [line.strip() for line in (self.cleaned_data.get("postal_address") or "").splitlines()]
        return "\n".join(line for line in lines if line)
