"""The endpoint form of the Webhooks screen: the shape of the input only.

What makes a URL or a set of events acceptable is the service's rule (`service.clean_url`, `clean_events`); the
view calls it and puts its sentences on the fields, so the screen and any other caller can never disagree.
"""

from __future__ import annotations

from typing import Any

from django import forms

from referloop.campaigns.errors import InputRejected
from referloop.integrations.webhooks import service
from referloop.integrations.webhooks.events import EVENT_TYPES
from referloop.integrations.webhooks.models import WebhookEndpoint

ORDERED_HELP = (
    "One event at a time, oldest first: a newer event waits until the one before it is delivered (or has failed "
    "for good). Slower; choose it only if your receiver can't sort events by their timestamp."
)


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=1000,
        required=False,  # an empty URL gets the service's own sentence, in place
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/referloop", "autocomplete": "off"}),
        help_text="Must be https and reachable from the internet (not a private or local address).",
    )
    description = forms.CharField(
        label="Description",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "What receives these events, e.g. Zapier or our data warehouse"}),
    )
    events = forms.MultipleChoiceField(
        label="Events to send",
        choices=[(name, name) for name in EVENT_TYPES],
        required=False,  # "none chosen" gets the service's own sentence, in place
        widget=forms.CheckboxSelectMultiple,
    )
    ordered = forms.BooleanField(label="Deliver in order", required=False, help_text=ORDERED_HELP)

    def __init__(self, *args: Any, endpoint: WebhookEndpoint | None = None, **kwargs: Any) -> None:
        if endpoint is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "url": endpoint.url,
                "description": endpoint.description,
                "events": list(endpoint.events or []),
                "ordered": endpoint.ordered,
            }
        super().__init__(*args, **kwargs)
        self.endpoint = endpoint
        for name in ("url", "description"):
            self.fields[name].widget.attrs.setdefault("aria-describedby", f"id_{name}_helptext")

    def clean_events(self) -> list[str]:
        try:
            return service.clean_events(self.cleaned_data.get("events") or [])
        except InputRejected as rejected:
            raise forms.ValidationError(rejected.errors.get("events") or [str(rejected)]) from None

    def event_options(self) -> list[dict[str, object]]:
        """Each event type with its one-line description and whether it is ticked (the template's checkboxes)."""
        if self.is_bound:
            chosen = set(self.data.getlist("events")) if hasattr(self.data, "getlist") else set()
        else:
            chosen = set(self.initial.get("events") or [])
        return [
            {"name": name, "description": description, "checked": name in chosen, "id": f"id_events_{index}"}
            for index, (name, description) in enumerate(EVENT_TYPES.items())
        ]

    def add_rejected(self, rejected: InputRejected) -> None:
        """The service's sentences, on the field they name (or above the form)."""
        for field, problems in rejected.errors.items():
            for problem in problems:
                if field in self.fields and problem not in self.errors.get(field, []):
                    self.add_error(field, problem)
                elif field not in self.fields:
                    self.add_error(None, problem)
