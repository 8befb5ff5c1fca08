"""Saving Qualification Rules (Leads tab): the rule, the job status it waits for, a minimum total, the follow
window; audited, and applied at once to the bookings already followed (no ServiceTitan call needed: the facts
are stored), so a rule chosen after the jobs were done still qualifies them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.db import transaction
from django.utils import timezone

from referloop.accounts.models import User
from referloop.campaigns import outcomes
from referloop.campaigns.models import LeadStatus
from referloop.integrations import audit
from referloop.integrations.models import Follow, Integration
from referloop.integrations.servicetitan import qualification
from referloop.integrations.servicetitan.qualification import Facts, Rule

MAX_FOLLOW_DAYS = 365


class QualificationForm(forms.ModelForm):
    class Meta:
        model = Integration
        fields = ["qualification_rule", "qualifying_job_status", "minimum_job_total", "follow_days"]
        labels = {
            "qualification_rule": "A referral qualifies when",
            "qualifying_job_status": "Job status",
            "minimum_job_total": "Minimum invoice total",
            "follow_days": "Follow each booking for (days)",
        }
        help_texts = {"qualifying_job_status": "For “The job reaches a status”: that status or a later one."}
        widgets = {"qualification_rule": forms.RadioSelect}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["minimum_job_total"].widget.attrs.update({"min": "0", "step": "0.01", "inputmode": "decimal"})
        self.fields["follow_days"].widget.attrs.update({"min": "1", "max": str(MAX_FOLLOW_DAYS)})

    def clean_minimum_job_total(self) -> Decimal | None:
        value: Decimal | None = self.cleaned_data.get("minimum_job_total")
        if value is not None and value < 0:
            raise forms.ValidationError("Enter 0 or more, or leave it empty for no minimum.")
        return value

    def clean_follow_days(self) -> int:
        value = int(self.cleaned_data["follow_days"])
        if not 1 <= value <= MAX_FOLLOW_DAYS:
            raise forms.ValidationError(f"Enter a number of days from 1 to {MAX_FOLLOW_DAYS}.")
        return value


@transaction.atomic
def save_qualification(form: QualificationForm, user: User | None) -> int:
    """Store the rules; returns how many followed leads the (new) rule qualifies now."""
    integration: Integration = form.instance
    before = Integration.objects.get(pk=integration.pk)
    form.save()
    changed = [form.fields[name].label for name in form.changed_data]
    if changed:
        rule = qualification.describe(Rule.of(integration))
        audit.record(
            integration, user, f"Qualification Rules: {', '.join(str(c) for c in changed)} changed; now “{rule}”."
        )
    if integration.follow_days != before.follow_days:
        _move_windows(integration)
    return qualify_followed(integration)


def qualify_followed(integration: Integration) -> int:
    """Pending leads whose stored facts meet the integration's rule qualify now (once each, as always)."""
    rule = Rule.of(integration)
    now = timezone.now()
    count = 0
    follows = Follow.objects.filter(
        integration=integration, lead__status=LeadStatus.PENDING, lead__qualified_at__isnull=True
    )
    for follow in follows:
        facts = Facts.of(follow)
        if qualification.meets(rule, facts):
            evidence = qualification.evidence(rule, facts)
            count += outcomes.qualify_by_rule(follow.lead_id, rule.kind, qualification.describe(rule), evidence, now)
    return count


def _move_windows(integration: Integration) -> None:
    """The window counts from each booking's start: bookings still followed get the new length."""
    for follow in Follow.objects.filter(integration=integration, settled_at__isnull=True):
        Follow.objects.filter(pk=follow.pk).update(
            follow_until=follow.started_at + timedelta(days=integration.follow_days)
        )
