"""Check results as plain text (the terminal, the support bundle) and as JSON-ready data.

The text form reads top to bottom like the Diagnose tab: one line per check with its status, then the
details and the fix indented under it. A title longer than its column ("Following bookings in ServiceTitan")
has the line to itself and its sentence starts the next one, in the sentence column. Colour is the caller's
choice (a function per status).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from referloop.diagnostics.result import CheckResult, Status, count_by_status, has_problem
from referloop.diagnostics.text import plural
from referloop.integrations.models import Integration

Paint = Callable[[Status, str], str]
TITLE_WIDTH = 24
STATUS_WIDTH = 9


def no_paint(status: Status, text: str) -> str:
    return text


def integration_heading(integration: Integration) -> str:
    tenant = f", tenant {integration.tenant_id}" if integration.tenant_id else ""
    return (
        f"{integration.get_provider_display()} for “{integration.campaign.name}” ({integration.campaign.slug}): "
        f"{integration.get_environment_display()}{tenant}, {integration.get_state_display()}"
    )


def render_text(results: list[CheckResult], paint: Paint = no_paint, base_url: str = "") -> str:
    lines = []
    indent = " " * (STATUS_WIDTH + 1 + TITLE_WIDTH + 1)
    for result in results:
        status = paint(result.status, f"{result.status.value:<{STATUS_WIDTH}}")
        if len(result.title) > TITLE_WIDTH:  # a long title keeps the column: the sentence starts under it
            lines.append(f"{status} {result.title}")
            lines.append(f"{indent}{result.sentence}")
        else:
            lines.append(f"{status} {result.title:<{TITLE_WIDTH}} {result.sentence}")
        lines.extend(f"{indent}· {detail}" for detail in result.details)
        if result.fix:
            lines.append(f"{indent}Fix: {result.fix}")
            url = result.fix_url
            if url:
                lines.append(f"{indent}     {base_url}{url}")
    lines.append("")
    lines.append(summary_line(results))
    return "\n".join(lines)


def summary_line(results: list[CheckResult]) -> str:
    counts = count_by_status(results)
    parts = [
        plural(counts[Status.PROBLEM.value], "problem"),
        plural(counts[Status.WARNING.value], "warning"),
        f"{counts[Status.OK.value]} ok",
    ]
    if counts[Status.SKIPPED.value]:
        parts.append(f"{counts[Status.SKIPPED.value]} skipped")
    return ", ".join(parts) + "."


def as_data(integration: Integration, results: list[CheckResult]) -> dict[str, Any]:
    return {
        "integration": {
            "id": integration.pk,
            "provider": integration.provider,
            "environment": integration.environment,
            "tenant_id": integration.tenant_id,
            "state": integration.state,
        },
        "ok": not has_problem(results),
        "counts": count_by_status(results),
        "checks": [result.as_dict() for result in results],
    }
