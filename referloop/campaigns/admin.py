from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from referloop.campaigns.errors import InputRejected
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.lead_form import STANDARD_FIELDS, LeadDataForm
from referloop.campaigns.models import Campaign, CustomField, ImportJob, Lead, LeadSource, Referrer


class CustomFieldInline(admin.TabularInline):
    model = CustomField
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "slug", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "slug")
    inlines = [CustomFieldInline]


@admin.register(Referrer)
class ReferrerAdmin(admin.ModelAdmin):
    list_display = ("email", "first_name", "last_name", "campaign", "code", "created_at")
    search_fields = ("email", "code")
    readonly_fields = ("code",)
    raw_id_fields = ("campaign",)


class LeadAdminForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = [
            "campaign",
            "referrer",
            "first_name",
            "last_name",
            "email",
            "phone",
            "street",
            "city",
            "state",
            "zip_code",
            "notes",
            "custom_data",
            "status",
        ]

    def clean(self) -> dict[str, Any]:
        """A new lead is checked by the lead form of its campaign, the same rules as every other intake path."""
        cleaned = super().clean() or {}
        campaign, referrer = cleaned.get("campaign"), cleaned.get("referrer")
        if self.instance.pk is None and campaign is not None and referrer is not None:
            data = {name: cleaned.get(name) or "" for name in STANDARD_FIELDS}
            lead_form = LeadDataForm(data, campaign=campaign)
            if not lead_form.is_valid():
                for field, problems in lead_form.errors.items():
                    self.add_error(field if field in self.fields else None, problems)
            if referrer.campaign_id != campaign.pk:
                self.add_error("referrer", "This referrer belongs to another campaign.")
        return cleaned


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadAdminForm
    list_display = ("email", "first_name", "last_name", "campaign", "referrer", "status", "created_at")
    list_filter = ("status", "source")
    search_fields = ("email", "code")
    readonly_fields = ("code", "source", "created_at")
    raw_id_fields = ("campaign", "referrer")

    def save_model(self, request: HttpRequest, obj: Lead, form: Any, change: bool) -> None:
        """New leads go through the one intake path, so they get the same checks and delivery rows."""
        if change:
            super().save_model(request, obj, form, change)
            return
        data = {name: getattr(obj, name) for name in STANDARD_FIELDS}
        try:
            result = submit_lead(obj.campaign, obj.referrer, data, source=LeadSource.ADMIN)
        except InputRejected as rejected:
            self.message_user(request, f"Lead not created: {rejected}", level=messages.ERROR)
            return
        obj.pk = result.lead.pk
        obj.code = result.lead.code


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("filename", "campaign", "kind", "total_rows", "created_count", "created_at", "finished_at")
    exclude = ("content",)
