"""An email's subject, plain text and HTML, from a template and the lead's record: for sending and for the preview.

The placeholders are filled by the ServiceTitan mapping's own code (`providers.mapping.compile_fixed`), from the
same record a booking is built from (`integrations.records.lead_record`). The template is plain text, so the
HTML version is made from it: the template's text and every value are escaped (a friend named `<b>Tom</b>` reads
as typed), paragraphs become <p>, line breaks <br>, and only the referral link becomes a link. The footer, with
the account's name and postal address and, on marketing mail, the unsubscribe link, is added by the layout
templates (`templates/notifications/email.txt`, `email.html`), never by the account's wording.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe

from referloop.campaigns.models import Lead, Referrer
from referloop.integrations.records import lead_record
from referloop.notifications.catalog import SPECS
from referloop.providers.mapping import SourceField, as_text, compile_fixed, placeholders

SUBJECT_LIMIT = 250
LINK_FIELDS = frozenset({"referrer.referral_link"})
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n){2,}")


@dataclass(frozen=True)
class Footer:
    """What the layout adds under the wording."""

    business_name: str
    postal_address: str
    campaign_name: str
    unsubscribe_url: str = ""  # marketing mail only

    @property
    def address_lines(self) -> list[str]:
        return [line.strip() for line in self.postal_address.splitlines() if line.strip()]


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    content_html: SafeString  # the HTML between <body> and </body>: what the preview shows


def referrer_record(referrer: Referrer) -> dict[str, object]:
    """A referrer's fields, for an email about no particular lead (the lead fields stay empty)."""
    return {
        "referrer.first_name": referrer.first_name,
        "referrer.full_name": referrer.full_name,
        "referrer.email": referrer.email,
        "referrer.referral_code": referrer.code,
        "referrer.referral_link": referrer.referral_url,
        "campaign.name": referrer.campaign.name,
    }


def record_for(
    referrer: Referrer, lead: Lead | None, business_name: str, extra: Mapping[str, object]
) -> dict[str, object]:
    """The values an email's placeholders are filled from: the lead's record (as a booking gets it), the
    business's name, and what the email was queued with (a reward)."""
    record: dict[str, object] = dict(lead_record(lead)) if lead is not None else referrer_record(referrer)
    record["account.name"] = business_name
    record.update(extra)
    return record


def render(
    notification: str,
    subject: str,
    body: str,
    record: Mapping[str, object],
    catalog: Iterable[SourceField],
    footer: Footer,
) -> Rendered:
    fields = tuple(catalog)
    filled_subject = " ".join(compile_fixed(subject, fields)(record).split())[:SUBJECT_LIMIT]
    text = _fill_lines(body, fields, record)
    content = _html_paragraphs(body, fields, record)
    context = {
        "subject": filled_subject,
        "text": text,
        "content": content,
        "footer": footer,
        "marketing": SPECS[notification].marketing,
    }
    content_html = mark_safe(render_to_string("notifications/_email_content.html", context))  # noqa: S308
    return Rendered(
        subject=filled_subject,
        text=render_to_string("notifications/email.txt", context).strip() + "\n",
        html=render_to_string("notifications/email.html", {**context, "content_html": content_html}),
        content_html=content_html,
    )


def _fill_lines(template: str, fields: tuple[SourceField, ...], record: Mapping[str, object]) -> str:
    """The template filled line by line: a line that only held empty values (a reward without a code) goes,
    instead of leaving a gap, and blank lines never pile up."""
    lines = []
    for line in template.split("\n"):
        filled = compile_fixed(line, fields)(record)
        if filled or not placeholders(line):
            lines.append(filled)
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _html_paragraphs(body: str, fields: tuple[SourceField, ...], record: Mapping[str, object]) -> SafeString:
    """The wording as HTML: the template's text and every value escaped, the referral link a link.

    The same parser fills it: the template is escaped first and so are the labels it is matched against (escaping
    leaves `{` and `}` alone), and every value is escaped before it goes in.
    """
    escaped_fields = tuple(SourceField(field.key, escape(field.label), field.group) for field in fields)
    values = {field.key: _html_value(field.key, record.get(field.key)) for field in fields}
    filled = _fill_lines(str(escape(body)), escaped_fields, values)
    return mark_safe(linebreaks(filled, autoescape=False))  # noqa: S308 - every part was escaped above


def _html_value(key: str, value: object) -> str:
    text = as_text(value)
    if key in LINK_FIELDS and text.startswith(("https://", "http://")):
        return f'<a href="{escape(text)}">{escape(text)}</a>'
    return str(escape(text))
