"""Campaign Settings → Rewards (the rules), the code upload, and the issue/cancel forms of the Rewards tab."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.db import transaction

from referloop.accounts.models import User
from referloop.campaigns.models import Campaign
from referloop.rewards import codes
from referloop.rewards.models import (
    HOLD_DAYS_LIMIT,
    NOTE_LIMIT,
    REASON_LIMIT,
    Recipient,
    RewardKind,
    RewardProgram,
    RewardRule,
    Trigger,
)

CURRENCY = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter currency code, such as USD.")
MILESTONE_KINDS = [(RewardKind.FIXED.value, RewardKind.FIXED.label), (RewardKind.CODE.value, RewardKind.CODE.label),
                   (RewardKind.CUSTOM.value, RewardKind.CUSTOM.label)]  # fmt: skip


@dataclass(frozen=True)
class Slot:
    """One rule of the form: its field prefix, what it is, and the kinds it may give."""

    prefix: str
    recipient: str
    trigger: str
    title: str
    help: str


SLOTS = (
    Slot("referrer", Recipient.REFERRER, Trigger.QUALIFIED, "The referrer's reward",
         "What the referrer earns for each friend who qualifies."),
    Slot("friend", Recipient.FRIEND, Trigger.QUALIFIED, "The friend's reward",
         "What the friend earns when they qualify (besides the offer on the referral page)."),
    Slot("milestone", Recipient.REFERRER, Trigger.MILESTONE, "Milestone bonus",
         "An extra reward for the referrer's every Nth qualified referral (the 5th, the 10th, …)."),
    Slot("joined", Recipient.REFERRER, Trigger.JOINED, "Thank-you when a friend joins",
         "A non-monetary thank-you to the referrer as soon as a friend joins, before any job."),
)  # fmt: skip


def amount_field() -> forms.DecimalField:
    return forms.DecimalField(
        label="Amount", required=False, max_digits=12, decimal_places=2, min_value=Decimal("0.01")
    )


def currency_field() -> forms.CharField:
    return forms.CharField(
        label="Currency", required=False, max_length=3, initial="USD",
        help_text="Three letters, such as USD or CAD.",
    )  # fmt: skip


def currency(value: str | None) -> str:
    """ "usd" → "USD"; empty → "USD"."""
    code = (value or "").strip().upper() or "USD"
    CURRENCY(code)
    return code


def text_field(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=300, help_text=help_text)


class RewardRulesForm(forms.Form):
    """Every reward rule of a campaign on one form. A rule left at "No reward" is off."""

    reward_description = forms.CharField(
        label="How you describe the reward to referrers",
        max_length=300,
        help_text="Shown on the join page and in the email with a new referrer's link, e.g. “$50 for every friend "
        "who books a job”.",
    )
    hold_days = forms.IntegerField(
        label="Hold period (days)",
        required=False,
        min_value=0,
        max_value=HOLD_DAYS_LIMIT,
        help_text="A reward stays Pending this many days after the friend qualifies, then becomes Due. If the "
        "referral is unqualified meanwhile (a refund), its rewards are canceled. 0: Due at once.",
    )
    low_codes_at = forms.IntegerField(
        label="Warn when fewer codes than this are left",
        required=False,
        min_value=0,
        max_value=1_000_000,
        help_text="For rewards that are codes from a pool.",
    )

    referrer_kind = forms.ChoiceField(label="Reward", choices=RewardKind.choices, required=False)
    referrer_amount = amount_field()
    referrer_currency = currency_field()
    referrer_percent = forms.DecimalField(
        label="Percent of the invoice total", required=False, max_digits=5, decimal_places=2,
        min_value=Decimal("0.01"), max_value=Decimal("100"),
        help_text="Of the qualifying job's invoice total; if none is known, the amount is asked when you issue it.",
    )  # fmt: skip
    referrer_text = text_field(
        "Text", "For Custom text: what the reward is. For a code: what the code is, e.g. “$25 gift card”."
    )
    friend_kind = forms.ChoiceField(label="Reward", choices=RewardKind.choices, required=False)
    friend_amount = amount_field()
    friend_currency = currency_field()
    friend_percent = forms.DecimalField(
        label="Percent of the invoice total", required=False, max_digits=5, decimal_places=2,
        min_value=Decimal("0.01"), max_value=Decimal("100"),
    )  # fmt: skip
    friend_text = text_field("Text", "For Custom text: what the reward is. For a code: what the code is.")
    milestone_every = forms.IntegerField(
        label="Every Nth qualified referral",
        required=False,
        min_value=2,
        max_value=1000,
        help_text="Leave empty for no milestone bonus.",
    )
    milestone_kind = forms.ChoiceField(label="Bonus", choices=MILESTONE_KINDS, required=False)
    milestone_amount = amount_field()
    milestone_currency = currency_field()
    milestone_text = text_field("Text", "For Custom text: what the bonus is. For a code: what the code is.")
    joined_text = text_field("Thank-you", "E.g. “A thank-you card from our team”. Leave empty for none.")

    def __init__(self, *args: Any, campaign: Campaign, **kwargs: Any) -> None:
        kwargs.setdefault("initial", initial_of(campaign))
        super().__init__(*args, **kwargs)
        self.campaign = campaign

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for prefix in ("referrer", "friend"):
            self._require_terms(cleaned, prefix, cleaned.get(f"{prefix}_kind") or "")
        every = cleaned.get("milestone_every")
        kind = cleaned.get("milestone_kind") or ""
        if every:
            self._require_terms(cleaned, "milestone", kind or RewardKind.FIXED)
        return cleaned

    def _require_terms(self, cleaned: dict[str, Any], prefix: str, kind: str) -> None:
        needs = {"fixed": "amount", "percent": "percent", "custom": "text"}.get(kind)
        if needs and cleaned.get(f"{prefix}_{needs}") in (None, ""):
            what = {"amount": "the amount", "percent": "the percentage", "text": "the text"}[needs]
            self.add_error(f"{prefix}_{needs}", f"Enter {what} of this reward.")

    def clean_referrer_currency(self) -> str:
        return currency(self.cleaned_data.get("referrer_currency"))

    def clean_friend_currency(self) -> str:
        return currency(self.cleaned_data.get("friend_currency"))

    def clean_milestone_currency(self) -> str:
        return currency(self.cleaned_data.get("milestone_currency"))

    def save(self, by: User | None) -> None:
        data = self.cleaned_data
        with transaction.atomic():
            self.campaign.reward_description = data["reward_description"]
            self.campaign.save(update_fields=["reward_description", "updated_at"])
            program, _ = RewardProgram.objects.get_or_create(campaign=self.campaign)
            program.hold_days = data.get("hold_days") or 0
            if data.get("low_codes_at") is not None:
                program.low_codes_at = data["low_codes_at"]
            program.updated_by = by
            program.save()
            for slot in SLOTS:
                self._save_slot(slot, data)

    def _save_slot(self, slot: Slot, data: dict[str, Any]) -> None:
        if slot.prefix == "joined":
            text = data.get("joined_text") or ""
            values: dict[str, Any] = {"kind": RewardKind.CUSTOM if text else RewardKind.NONE, "text": text}
        else:
            kind = data.get(f"{slot.prefix}_kind") or ""
            every = data.get("milestone_every") if slot.prefix == "milestone" else None
            if slot.prefix == "milestone":
                kind = (kind or RewardKind.FIXED) if every else RewardKind.NONE
            values = {
                "kind": kind,
                "amount": data.get(f"{slot.prefix}_amount") if kind == RewardKind.FIXED else None,
                "currency": data.get(f"{slot.prefix}_currency") or "USD",
                "percent": data.get(f"{slot.prefix}_percent") if kind == RewardKind.PERCENT else None,
                "text": (data.get(f"{slot.prefix}_text") or "") if kind in (RewardKind.CODE, RewardKind.CUSTOM) else "",
                "every": every,
            }
        existing = RewardRule.objects.filter(
            campaign=self.campaign, recipient=slot.recipient, trigger=slot.trigger
        ).first()
        if existing is None and not values["kind"]:
            return  # nothing to turn off
        RewardRule.objects.update_or_create(
            campaign=self.campaign, recipient=slot.recipient, trigger=slot.trigger, defaults=values
        )

    def change_label(self, name: str, label: str) -> str:
        """For the change history: "The referrer's reward · Amount", as the page's sections show it."""
        slot = next((slot for slot in SLOTS if name.startswith(slot.prefix + "_")), None)
        return f"{slot.title} · {label}" if slot else label

    def lock(self) -> None:
        """A member sees the rules but can't change them: they decide what the business pays."""
        for form_field in self.fields.values():
            form_field.disabled = True

    def slot_fields(self) -> list[tuple[Slot, list[tuple[forms.BoundField, str]]]]:
        """The form's fields grouped by rule, each with its role (kind, amount, …) that the page's CSS shows or
        hides as the rule's kind changes."""
        return [
            (slot, [(self[name], name.removeprefix(slot.prefix + "_")) for name in self.fields
                    if name.startswith(slot.prefix + "_")])
            for slot in SLOTS
        ]  # fmt: skip


def initial_of(campaign: Campaign) -> dict[str, Any]:
    initial: dict[str, Any] = {"reward_description": campaign.reward_description}
    program = RewardProgram.objects.filter(campaign=campaign).first()
    initial["hold_days"] = program.hold_days if program else 0
    initial["low_codes_at"] = program.low_codes_at if program else 10
    for slot in SLOTS:
        rule = RewardRule.objects.filter(campaign=campaign, recipient=slot.recipient, trigger=slot.trigger).first()
        if rule is None:
            continue
        if slot.prefix == "joined":
            initial["joined_text"] = rule.text if rule.kind else ""
            continue
        initial.update(
            {
                f"{slot.prefix}_kind": rule.kind,
                f"{slot.prefix}_amount": rule.amount,
                f"{slot.prefix}_currency": rule.currency or "USD",
                f"{slot.prefix}_percent": rule.percent,
                f"{slot.prefix}_text": rule.text,
            }
        )
        if slot.prefix == "milestone":
            initial["milestone_every"] = rule.every if rule.kind else None
    return initial


class CodeUploadForm(forms.Form):
    codes = forms.CharField(
        label="Codes, one per line",
        required=False,
        max_length=codes.UPLOAD_BYTES,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Or upload a file: one code per line, or a CSV with the codes in its first column.",
    )
    file = forms.FileField(label="Or a file (.txt or .csv)", required=False)

    def clean(self) -> dict[str, Any]:
        """The codes as text, from the file if one was given, else from the box (`cleaned_data["text"]`)."""
        cleaned = super().clean() or {}
        upload = cleaned.get("file")
        cleaned["text"] = cleaned.get("codes") or ""
        if upload is not None:
            if upload.size > codes.UPLOAD_BYTES:
                raise forms.ValidationError("The file is larger than 1 MB: split it into smaller files.")
            try:
                cleaned["text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text: save it as CSV (UTF-8).") from None
        return cleaned


class IssueForm(forms.Form):
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=NOTE_LIMIT,
        help_text="Optional, e.g. the gift card number. The referrer sees it on their page and in the email.",
    )
    amount = forms.DecimalField(
        label="Amount",
        required=False,
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text="No invoice total was known, so enter the amount you give.",
    )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason", max_length=REASON_LIMIT, help_text="Required. Kept on the reward and the lead's timeline."
    )
