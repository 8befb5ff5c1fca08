"""The account's change history: `record` writes one AccountChange; `form_changes` says what a saved form changed.

A phrase names the field by its label and shows short values before and after ("Hold period (days): 0 → 14").
Long or free text (an email's body, an address) is named as changed without its text: the history says who
changed what and when, and the page itself shows what it says now.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.db import transaction

from referloop.accounts.models import Account, AccountChange, User

if TYPE_CHECKING:
    from referloop.campaigns.models import Campaign  # campaigns imports accounts: no import at run time

SHOWN_LENGTH = 60  # longer values are named as changed, not quoted


def record(
    account: Account, user: User | None, area: str, summary: str, *, campaign: Campaign | None = None
) -> AccountChange:
    return AccountChange.objects.create(
        account=account, campaign=campaign, user=user, area=area[:60], summary=summary[:1000]
    )


def save_form(
    form: forms.BaseForm,
    save: Any,
    account: Account,
    user: User | None,
    area: str,
    *,
    campaign: Campaign | None = None,
    prefix: str = "",
) -> None:
    """Run `save()` (the form's own save, or the caller's) and record what the form changed, in one transaction:
    a change is never saved without its history row, nor the row without the change."""
    with transaction.atomic():
        save()
        record(account, user, area, prefix + summary_of(form_changes(form)), campaign=campaign)


def form_changes(form: forms.BaseForm) -> list[str]:
    """One phrase per field a valid form changed against its initial values, in the form's order."""
    phrases = []
    named = getattr(form, "change_label", None)  # a form whose labels repeat per section names the section too
    for name in form.changed_data:
        field = form.fields[name]
        initial, cleaned = form.get_initial_for_field(field, name), form.cleaned_data.get(name)
        if same(initial, cleaned):
            continue  # Django saw a change the person didn't make (a textarea's \r\n, "" against None)
        label = str(field.label or name.replace("_", " ").capitalize())
        if named is not None:
            label = named(name, label)
        before, after = shown(field, initial), shown(field, cleaned)
        if before is None or after is None:
            phrases.append(f"{label}: changed")
        elif before != after:
            phrases.append(f"{label}: {before} → {after}")
    return phrases


def same(before: Any, after: Any) -> bool:
    """Equal as a person reads them: line endings, surrounding space and empty-vs-none don't count."""

    def plain(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, str):
            return value.replace("\r\n", "\n").replace("\r", "\n").strip()
        return value

    return bool(plain(before) == plain(after))


def shown(field: forms.Field, value: Any) -> str | None:
    """A value as the history shows it; None for text too long or too free to quote."""
    if isinstance(field.widget, forms.Textarea) or isinstance(field, forms.FileField):
        return None
    if isinstance(field, forms.BooleanField):
        return "on" if value else "off"
    if value in (None, ""):
        return "none"
    if isinstance(field, forms.ChoiceField):
        choices: Iterable[tuple[Any, Any]] = getattr(field, "choices", ())  # flat choices: no groups here
        labels = {str(key): str(label) for key, label in choices}
        value = labels.get(str(value), value)
    if isinstance(value, Decimal):
        value = value.quantize(Decimal(1)) if value == value.to_integral() else value
    if hasattr(value, "pk"):  # a model choice
        value = str(value)
    text = str(value)
    if len(text) > SHOWN_LENGTH:
        return None
    return f"“{text}”" if isinstance(field, forms.CharField) else text


def summary_of(phrases: list[str], nothing: str = "saved without changes") -> str:
    return "; ".join(phrases) if phrases else nothing
