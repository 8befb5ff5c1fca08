from __future__ import annotations

from typing import Any

from django import forms
from django.utils.text import slugify

from referloop.campaigns.models import Campaign, CustomField, CustomFieldType, ImportKind


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["name", "slug"]
        help_texts = {"slug": "Lowercase letters, digits and dashes; your public join link uses it."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

    def clean_slug(self) -> str:
        slug = slugify(self.cleaned_data.get("slug") or self.cleaned_data.get("name") or "")[:60]
        if not slug:
            raise forms.ValidationError("Enter a slug made of letters, digits and dashes.")
        taken = Campaign.objects.filter(slug=slug).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"The slug “{slug}” is taken. Choose another.")
        return slug


class GeneralSettingsForm(CampaignForm):
    """Campaign Settings → General: the name and slug, the public forms' protection: the hourly ceiling
    (abuse/limits.py) and email verification of friends (verification.py), and whether a friend who already was a
    ServiceTitan customer can earn a reward (integrations/servicetitan/known_customers.py)."""

    class Meta(CampaignForm.Meta):
        fields = [
            *CampaignForm.Meta.fields,
            "public_submissions_per_hour",
            "verify_friend_email",
            "existing_customers_never_qualify",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["public_submissions_per_hour"].required = False

    def clean_public_submissions_per_hour(self) -> int:
        value = self.cleaned_data.get("public_submissions_per_hour")
        return self.instance.public_submissions_per_hour if value is None else int(value)


# The slug: changing it breaks every join link already shared. The ceiling and verification: bot protection.
# Whether existing customers can earn: a reward policy (money).
OWNER_FIELDS = ("slug", "public_submissions_per_hour", "verify_friend_email", "existing_customers_never_qualify")


def lock_owner_fields(form: forms.BaseForm) -> None:
    """Show a member the owner/admin-only fields as disabled, saying why; Django ignores posted values for them."""
    for name in OWNER_FIELDS:
        if name in form.fields:
            form.fields[name].disabled = True
            form.fields[name].help_text = "Only owners and admins can change this."


class ReferralPageForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["offer_text", "page_intro", "thank_you_text"]
        widgets = {"page_intro": forms.Textarea(attrs={"rows": 3})}


class CustomFieldForm(forms.ModelForm):
    class Meta:
        model = CustomField
        fields = ["label", "key", "field_type", "required", "choices"]
        widgets = {"choices": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, campaign: Campaign, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        self.fields["key"].required = False

    def clean_key(self) -> str:
        key = slugify(self.cleaned_data.get("key") or self.cleaned_data.get("label") or "").replace("-", "_")[:40]
        if not key:
            raise forms.ValidationError("Enter a key made of letters, digits and underscores.")
        if CustomField.objects.filter(campaign=self.campaign, key=key).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(f"This campaign already has a field with key “{key}”.")
        return key

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("field_type") == CustomFieldType.SELECT and not (cleaned.get("choices") or "").strip():
            self.add_error("choices", "A Select field needs at least one choice, one per line.")
        return cleaned


class CsvImportForm(forms.Form):
    file = forms.FileField(label="CSV file")
    kind = forms.ChoiceField(choices=ImportKind.choices, widget=forms.HiddenInput)
