"""The Referrers tab's actions: the sync's settings form, Start and Stop. The worker does the reading (runner.py).

"Customers with a tag" offers the tenant's tag types by name (pick_lists.TAGS, cached like the Leads tab's lists);
typing a tag type id stays possible, as it is the only way when ServiceTitan's list can't be read."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.db import transaction

from referloop.accounts.models import User
from referloop.integrations import audit
from referloop.integrations.models import Integration
from referloop.integrations.servicetitan.customer_sync.models import CustomerSync, Phase, Selection, SyncState
from referloop.integrations.servicetitan.pick_lists import PickLists, tag_problem


class SyncForm(forms.ModelForm):
    class Meta:
        model = CustomerSync
        fields = [
            "selection",
            "tag_id",
            "created_after",
            "include_inactive",
            "name_source",
            "email_source",
            "phone_source",
            "mode",
        ]
        labels = {
            "selection": "Which customers",
            "tag_id": "Tag id",
            "created_after": "Created on or after",
            "include_inactive": "Include inactive customers",
            "name_source": "Referrer name",
            "email_source": "Referrer email",
            "phone_source": "Referrer phone",
            "mode": "Sync",
        }
        help_texts = {
            "tag_id": "The ServiceTitan tag type id (a number), for “Customers with a tag”.",
            "include_inactive": "Inactive customers are usually ones merged into another record.",
            "mode": "One-time imports the customers once. Ongoing also picks up new and changed customers.",
        }
        widgets = {
            "selection": forms.RadioSelect,
            "mode": forms.RadioSelect,
            "created_after": forms.DateInput(attrs={"type": "date"}),
        }

    tag_pick = forms.ChoiceField(label="Tag", required=False)
    # The form's order: the tag's list right before the typed id.
    field_order = ["selection", "tag_pick", "tag_id"]

    def __init__(self, *args: object, tags: PickLists | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.tags = tags or PickLists()
        tagged = self.instance.pk is not None and self.instance.selection == Selection.TAG
        self.tag_problem = tag_problem(self.instance.tag_id, self.tags) if tagged else ""
        pick = self.fields["tag_pick"]
        assert isinstance(pick, forms.ChoiceField)
        if not self.tags.loaded:  # no list: the typed id alone, and the reason beside it
            del self.fields["tag_pick"]
            return
        choices = [("", "Choose a tag"), *self.tags.choices("tag_type")]
        stored = self.instance.tag_id if self.instance.pk else None
        if stored is not None and self.tags.name_of("tag_type", stored) is None:
            choices.append((str(stored), f"{stored} (not active in ServiceTitan)"))
        pick.choices = choices
        self.fields["tag_id"].label = "Or type a tag id"
        self.fields["tag_id"].help_text = "For a tag not in the list yet (the refresh icon reads it again)."
        # The stored tag is shown picked in the list, not typed, unless the refresh icon brought back an id typed
        # while the list could not be read (the form's initial then holds the posted tag_id, not the stored one).
        posted = self.initial.get("tag_id")
        typed = posted not in (None, stored, str(stored))
        if stored is not None and not self.is_bound and "tag_pick" not in self.initial and not typed:
            self.initial["tag_pick"] = str(stored)
            self.initial["tag_id"] = None
        pick.help_text = "The customers who carry this tag in ServiceTitan."

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        picked = data.get("tag_pick")
        if picked:
            typed = data.get("tag_id")
            if typed is not None and typed != int(str(picked)):
                self.add_error("tag_id", "Choose a tag from the list or type its id, not both.")
            else:
                data["tag_id"] = int(str(picked))
        selection = data.get("selection")
        if selection == Selection.TAG and not data.get("tag_id") and "tag_id" not in self.errors:
            if "tag_pick" in self.fields:
                self.add_error("tag_pick", "Choose the tag of the customers to import, or type its id.")
            else:
                self.add_error("tag_id", "Enter the tag id of the customers to import.")
        if selection == Selection.CREATED_AFTER and not data.get("created_after"):
            self.add_error("created_after", "Enter the date the customers were created on or after.")
        tag = data.get("tag_id")
        if isinstance(tag, int) and tag <= 0:
            self.add_error("tag_id", "A tag id is a positive number.")
        return data


class AlreadyRunning(Exception):
    pass


def sync_of(integration: Integration) -> CustomerSync | None:
    """The referrer sync, once started. A row that only keeps the known-customer contacts copy (never started: run
    0) is no referrer sync: the tab says "No sync yet" for it."""
    return CustomerSync.objects.filter(integration=integration, run__gt=0).first()


def start(integration: Integration, form: SyncForm, user: User, now: datetime) -> CustomerSync:
    """Save the settings and start a run: every customer is read again (the customers export from its start, so
    changed settings apply to all), the contacts export goes on from its token. Links make a re-run create no
    duplicate. Refused while a run is going (Stop first)."""
    with transaction.atomic():
        sync, _ = CustomerSync.objects.get_or_create(integration=integration)
        sync = CustomerSync.objects.select_for_update().get(pk=sync.pk)
        if sync.state == SyncState.RUNNING:
            raise AlreadyRunning("The sync is already running. Stop it first to change its settings.")
        for name in SyncForm.Meta.fields:
            setattr(sync, name, form.cleaned_data[name])
        sync.state = SyncState.RUNNING
        sync.run += 1
        sync.phase = Phase.CONTACTS
        sync.customers_token = ""
        sync.passes = sync.pages = sync.contacts_read = sync.customers_read = 0
        sync.due_at = sync.started_at = sync.updated_at = now
        sync.started_by_email = user.email
        sync.finished_at = sync.last_error_at = sync.lease_until = sync.customers_total = None
        sync.leased_by = sync.last_error = ""
        sync.save()
        audit.record(integration, user, f"Started a {sync.get_mode_display()} customer sync")
    return sync


def stop(integration: Integration, user: User, now: datetime) -> bool:
    """Stop a running sync; a page being read is not written (the worker sees the state when it writes)."""
    with transaction.atomic():
        stopped = CustomerSync.objects.filter(integration=integration, state=SyncState.RUNNING).update(
            state=SyncState.STOPPED, leased_by="", lease_until=None, due_at=None, updated_at=now
        )
        if stopped:
            audit.record(integration, user, "Stopped the customer sync")
    return bool(stopped)
