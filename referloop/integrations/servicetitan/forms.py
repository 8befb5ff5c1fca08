"""Forms of the Connection tab: step one (environment and tenant) and Finalize (the credentials)."""

from __future__ import annotations

from typing import Any

from django import forms

from referloop.integrations.models import Integration
from referloop.integrations.servicetitan.credentials import environment_choices

ENVIRONMENT_HELP = {
    "production": "Your live ServiceTitan. Choose this unless ServiceTitan gave you a test tenant.",
    "integration": "ServiceTitan's separate test environment, with its own tenants and credentials.",
    "sandbox": "referloop's built-in ServiceTitan double, for demos and tests on this server.",
}


class ConnectForm(forms.Form):
    environment = forms.ChoiceField(label="Environment", widget=forms.RadioSelect)
    tenant_id = forms.IntegerField(
        label="Tenant ID",
        min_value=1,
        max_value=2**63 - 1,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text="A number, shown in ServiceTitan under Settings → Integrations → API Application Access.",
        error_messages={
            "invalid": "Enter the Tenant ID as a number, as ServiceTitan shows it (for example 1234567).",
            "required": "Enter the Tenant ID: ServiceTitan shows it under Settings → Integrations → API Application "
            "Access.",
            "min_value": "The Tenant ID is a positive number, as ServiceTitan shows it.",
            "max_value": "That number is too long to be a ServiceTitan Tenant ID.",
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["environment"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = environment_choices()
        field.error_messages["invalid_choice"] = "Choose Production or Integration."
        field.error_messages["required"] = "Choose the ServiceTitan environment to connect to."


class CredentialsForm(forms.Form):
    """Finalize, and later edit or reconnect: a stored secret is reused unless a new one is typed."""

    client_id = forms.CharField(
        label="Client ID",
        max_length=200,
        error_messages={"required": "Enter the Client ID shown for the referloop app in ServiceTitan."},
    )
    client_secret = forms.CharField(
        label="Client Secret",
        required=False,
        max_length=500,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    booking_provider_id = forms.IntegerField(
        label="Booking Provider Value",
        min_value=1,
        max_value=2**63 - 1,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text="The Allowed “booking_provider” value shown for the referloop app in ServiceTitan (a number).",
        error_messages={
            "required": "Enter the Booking Provider Value: the Allowed “booking_provider” value shown for the "
            "referloop app in ServiceTitan.",
            "invalid": "The Booking Provider Value is a number: copy the Allowed “booking_provider” value exactly.",
            "min_value": "The Booking Provider Value is a positive number.",
            "max_value": "That number is too long to be a Booking Provider Value.",
        },
    )
    app_key = forms.CharField(
        label="App Key",
        required=False,
        max_length=500,
        help_text="Only if you built your own ServiceTitan app. Leave empty to use referloop's app.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    use_referloop_app_key = forms.BooleanField(label="Use referloop's App Key instead of my own", required=False)

    def __init__(self, *args: Any, integration: Integration, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {"client_id": integration.client_id, "booking_provider_id": integration.booking_provider_id},
        )
        super().__init__(*args, **kwargs)
        self.integration = integration
        self.has_stored_secret = bool(integration.client_secret_encrypted)
        if not integration.app_key_encrypted:
            del self.fields["use_referloop_app_key"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("client_secret") and not self.has_stored_secret:
            self.add_error(
                "client_secret",
                "Enter the Client Secret: generate it for the referloop app in ServiceTitan and paste it here.",
            )
        return data

    def apply(self, integration: Integration) -> tuple[str | None, list[str]]:
        """Copy the cleaned values onto `integration` (unsaved); returns (new secret or None, what changed)."""
        data = self.cleaned_data
        changes = []
        if integration.client_id != data["client_id"]:
            changes.append("Client ID")
        integration.client_id = data["client_id"]
        if integration.booking_provider_id != data["booking_provider_id"]:
            old = integration.booking_provider_id
            new = data["booking_provider_id"]
            changes.append(f"Booking Provider Value {old} → {new}" if old else "Booking Provider Value")
        integration.booking_provider_id = data["booking_provider_id"]
        if data.get("use_referloop_app_key"):
            integration.own_app_key = ""
            changes.append("App Key (now referloop's)")
        elif data.get("app_key"):
            integration.own_app_key = data["app_key"]
            changes.append("App Key (own)")
        secret = data.get("client_secret") or None
        if secret is not None:
            changes.append("Client Secret replaced" if self.has_stored_secret else "Client Secret")
        return secret, changes
