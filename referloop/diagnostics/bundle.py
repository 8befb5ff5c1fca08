"""The support bundle: one zip with `bundle.json` (for tools) and `bundle.txt` (for people).

It replaces "send us a screen recording and the error text": the integration's configuration (secrets masked),
the check results, the last 50 failed attempts with the requests that caused them, and, given an email, that
lead's whole timeline. Secrets never appear in it; personal data (names, emails, phones, addresses, notes) is
redacted unless the person downloading it ticks "include personal data".
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count
from django.utils import timezone

from referloop.campaigns.models import Lead
from referloop.diagnostics.checks import run_checks
from referloop.diagnostics.redact import Redactor, integration_secrets, personal_values
from referloop.diagnostics.report import integration_heading
from referloop.diagnostics.result import CheckResult, count_by_status
from referloop.integrations import crypto
from referloop.integrations.models import Attempt, AttemptOutcome, Delivery, Integration

FAILED_ATTEMPTS = 50
RECENT_LEADS = 50
RECENT_CHANGES = 20
_SUCCESS = [AttemptOutcome.DELIVERED, AttemptOutcome.FOUND_EXISTING]


@dataclass(frozen=True)
class SupportBundle:
    filename: str
    content: bytes
    data: dict[str, Any]


def build_bundle(
    integration: Integration,
    *,
    email: str = "",
    include_personal_data: bool = False,
    results: list[CheckResult] | None = None,
    now: datetime | None = None,
) -> SupportBundle:
    now = now or timezone.now()
    data = bundle_data(integration, email=email, include_personal_data=include_personal_data, results=results, now=now)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bundle.json", json.dumps(data, indent=2, ensure_ascii=False, default=str))
        archive.writestr("bundle.txt", bundle_text(data))
    filename = f"referloop-support-{integration.campaign.slug}-{now:%Y%m%d-%H%M%S}.zip"
    return SupportBundle(filename=filename, content=buffer.getvalue(), data=data)


def bundle_data(
    integration: Integration,
    *,
    email: str = "",
    include_personal_data: bool = False,
    results: list[CheckResult] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or timezone.now()
    email = email.strip()
    if results is None:
        results = run_checks(integration)
    attempts = list(
        Attempt.objects.filter(delivery__integration=integration)
        .exclude(outcome__in=_SUCCESS)
        .select_related("delivery__lead__referrer")
        .order_by("-started_at", "-pk")[:FAILED_ATTEMPTS]
    )
    lead = (
        Lead.objects.filter(campaign=integration.campaign, email__lower=email.lower())
        .select_related("referrer")
        .first()
        if email
        else None
    )
    recent = list(
        Lead.objects.filter(campaign=integration.campaign)
        .select_related("referrer")
        .order_by("-created_at", "-pk")[:RECENT_LEADS]
    )
    people = [a.delivery.lead for a in attempts if a.delivery.lead is not None] + recent + ([lead] if lead else [])
    secrets_only = Redactor(secrets=integration_secrets(integration), keep_personal=True)
    redactor = Redactor(
        secrets=integration_secrets(integration),
        personal=personal_values(people) | ({email} if email else set()),
        keep_personal=include_personal_data,
    )
    campaign = integration.campaign
    data: dict[str, Any] = {
        "generated_at": now.isoformat(),
        "personal_data_included": include_personal_data,
        "account": campaign.account.name,
        "campaign": {"id": campaign.pk, "name": campaign.name, "slug": campaign.slug},
        # Built here with masked secrets and no personal data; field names such as "name" must survive.
        "integration": secrets_only.clean_values(integration_config(integration)),
        "recent_changes": redactor.clean(recent_changes(integration)),
        "delivery_counts": delivery_counts(integration),
        "checks": {
            "counts": count_by_status(results),
            "results": redactor.clean([result.as_dict() for result in results]),
        },
        "failed_attempts": redactor.clean([attempt_data(attempt, with_lead=True) for attempt in attempts]),
        "lead_timeline": redactor.clean(lead_timeline(email, lead)) if email else None,
    }
    data["heading"] = integration_heading(integration)
    return data


def integration_config(integration: Integration) -> dict[str, Any]:
    try:
        secret = integration.masked_secret or "not set"
        own_key = integration.own_app_key
    except ValueError:
        secret, own_key = "set, but it can't be decrypted with this server's key", ""
    return {
        "id": integration.pk,
        "provider": integration.provider,
        "environment": integration.environment,
        "tenant_id": integration.tenant_id,
        "client_id": integration.client_id,
        "client_secret": secret,
        "app_key": f"own App Key {crypto.mask(own_key)}" if own_key else "referloop's app (deployment setting)",
        "booking_provider_id": integration.booking_provider_id,
        "state": integration.state,
        "lead_action": integration.lead_action,
        "field_mapping": integration.field_mapping,
        "needs_attention": integration.needs_attention,
        "attention_reason": integration.attention_reason,
        "consecutive_failures": integration.consecutive_failures,
        "connected_at": _iso(integration.connected_at),
        "created_at": _iso(integration.created_at),
        "updated_at": _iso(integration.updated_at),
    }


def recent_changes(integration: Integration) -> list[dict[str, Any]]:
    return [
        {"at": _iso(change.at), "summary": change.summary, "by": change.user.email if change.user else ""}
        for change in integration.changes.select_related("user")[:RECENT_CHANGES]
    ]


def delivery_counts(integration: Integration) -> dict[str, int]:
    rows = Delivery.objects.filter(integration=integration).values("state").annotate(count=Count("pk"))
    return {row["state"]: row["count"] for row in rows}


def attempt_data(attempt: Attempt, *, with_lead: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "at": _iso(attempt.started_at),
        "number": attempt.number,
        "outcome": attempt.outcome,
        "duration_ms": attempt.duration_ms,
        "response_status": attempt.response_status,
        "sentence": attempt.sentence,
        "response_text": attempt.response_text,
        "request_summary": attempt.request_summary,
    }
    if with_lead:
        delivery = attempt.delivery
        email = delivery.lead.email if delivery.lead else ""
        data = {"delivery_id": delivery.pk, "lead_id": delivery.lead_id, "lead_email": email, **data}
    return data


def lead_timeline(email: str, lead: Lead | None) -> dict[str, Any]:
    if lead is None:
        return {"email": email, "found": False, "note": "No lead with this email in this campaign."}
    deliveries = Delivery.objects.filter(lead=lead).select_related("integration").prefetch_related("attempts")
    return {
        "email": email,
        "found": True,
        "lead": {
            "id": lead.pk,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "email": lead.email,
            "phone": lead.phone,
            "street": lead.street,
            "city": lead.city,
            "state": lead.state,
            "zip_code": lead.zip_code,
            "custom_data": lead.custom_data,
            "referral_code": lead.code,
            "referrer_email": lead.referrer.email,
            "source": lead.source,
            "status": lead.status,
            "created_at": _iso(lead.created_at),
        },
        "deliveries": [
            {
                "id": delivery.pk,
                "provider": delivery.integration.provider if delivery.integration else delivery.connector,
                "state": delivery.state,
                "reason": delivery.reason,
                "external_id": delivery.external_id,
                "booking_id": delivery.remote_id,
                "attempt_count": delivery.attempt_count,
                "last_error": delivery.last_error,
                "next_attempt_at": _iso(delivery.next_attempt_at),
                "created_at": _iso(delivery.created_at),
                "first_attempt_at": _iso(delivery.first_attempt_at),
                "delivered_at": _iso(delivery.delivered_at),
                "failed_at": _iso(delivery.failed_at),
                "attempts": [attempt_data(attempt) for attempt in delivery.attempts.all()],
            }
            for delivery in deliveries
        ],
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# ── bundle.txt ─────────────────────────────────────────────────────────────────────────────────────────────
def bundle_text(data: dict[str, Any]) -> str:
    out: list[str] = []
    out.append("referloop support bundle")
    out.append(data["heading"])
    out.append(f"Account: {data['account']} · generated {data['generated_at']}")
    out.append("Personal data: included" if data["personal_data_included"] else "Personal data: redacted ([redacted])")
    _section(out, "Checks")
    for check in data["checks"]["results"]:
        out.append(f"[{check['status']}] {check['title']}: {check['sentence']}")
        out.extend(f"    · {detail}" for detail in check["details"])
        if check["fix"]:
            out.append(f"    Fix: {check['fix']}")
    _section(out, "Integration configuration (secrets masked)")
    for key, value in data["integration"].items():
        if key != "field_mapping":
            out.append(f"{key}: {value}")
    out.append("field mapping:")
    for target, entry in (data["integration"]["field_mapping"] or {}).items():
        if isinstance(entry, dict):
            out.append(f"    {target}: {entry.get('data_type')} → {entry.get('source')}")
    out.append("deliveries by state: " + ", ".join(f"{k} {v}" for k, v in sorted(data["delivery_counts"].items())))
    _section(out, "Recent changes")
    out.extend(f"{c['at']}  {c['summary']}" + (f" ({c['by']})" if c["by"] else "") for c in data["recent_changes"])
    _section(out, f"Last {FAILED_ATTEMPTS} failed attempts")
    if not data["failed_attempts"]:
        out.append("None.")
    for attempt in data["failed_attempts"]:
        _attempt_lines(out, attempt, f"delivery {attempt['delivery_id']}, lead {attempt['lead_email']}: ")
    timeline = data["lead_timeline"]
    if timeline is not None:
        _section(out, f"Timeline of {timeline['email']}")
        if not timeline["found"]:
            out.append(timeline["note"])
        else:
            lead = timeline["lead"]
            out.append(f"Lead {lead['id']}: {lead['first_name']} {lead['last_name']} <{lead['email']}>")
            out.append(f"{lead['created_at']}  joined (via {lead['source']}, status {lead['status']})")
            for delivery in timeline["deliveries"]:
                booking = f", booking {delivery['booking_id']}" if delivery["booking_id"] else ""
                reason = f": {delivery['reason']}" if delivery["reason"] else ""
                out.append(f"{delivery['created_at']}  delivery {delivery['id']} to {delivery['provider']}: ")
                out[-1] += f"{delivery['state']}{booking}{reason}"
                for attempt in delivery["attempts"]:
                    _attempt_lines(out, attempt, "    ")
                if delivery["last_error"]:
                    out.append(f"    last error: {delivery['last_error']}")
    return "\n".join(out) + "\n"


def _section(out: list[str], title: str) -> None:
    out.extend(["", title, "-" * len(title)])


def _attempt_lines(out: list[str], attempt: dict[str, Any], prefix: str) -> None:
    status = f" HTTP {attempt['response_status']}" if attempt["response_status"] else ""
    out.append(f"{attempt['at']}  {prefix}attempt {attempt['number']}: {attempt['outcome']}{status}")
    if attempt["sentence"]:
        out.append(f"    referloop: {attempt['sentence']}")
    if attempt["response_text"]:
        out.append(f"    ServiceTitan: {attempt['response_text']}")
    if attempt["request_summary"]:
        out.append("    request: " + json.dumps(attempt["request_summary"], ensure_ascii=False, default=str))
