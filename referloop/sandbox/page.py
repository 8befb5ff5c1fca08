"""GET /: a plain page listing the bookings the sandbox holds, for the demo and for a curious developer."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from referloop.sandbox.runtime import sandbox_of
from referloop.sandbox.wire import format_dt

_COLUMNS = (
    "Tenant",
    "Provider",
    "Booking",
    "External id",
    "Name",
    "Summary",
    "Status",
    "Job",
    "Job status",
    "Balance",
    "Created",
)


async def bookings_page(request: Request) -> HTMLResponse:
    sandbox = sandbox_of(request)
    state = sandbox.state
    with state.lock:
        bookings = sorted(state.list_bookings(), key=lambda b: b.id, reverse=True)
        jobs = {b.id: state.jobs[b.job_id] for b in bookings if b.job_id is not None}
        balances = {booking_id: state.invoices[job.invoice_id].balance for booking_id, job in jobs.items()}
    rows = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{escape(str(value))}</td>"
            for value in (
                b.tenant_id,
                b.booking_provider_id,
                b.id,
                b.external_id,
                b.name,
                b.summary or "",
                b.status,
                b.job_id or "",
                jobs[b.id].job_status if b.id in jobs else "",
                balances.get(b.id, ""),
                format_dt(b.created_on),
            )
        )
        + "</tr>"
        for b in bookings
    )
    header = "".join(f"<th>{name}</th>" for name in _COLUMNS)
    knobs = escape(", ".join(f"{k}={v}" for k, v in sandbox.config.knobs().items() if k != "app_keys"))
    empty = f'<tr><td colspan="{len(_COLUMNS)}">No bookings yet.</td></tr>'
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>ServiceTitan sandbox</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; }}
</style>
</head>
<body>
<h1>ServiceTitan sandbox</h1>
<p>referloop's local ServiceTitan double, for local use only. {len(bookings)} booking(s). Knobs: {knobs}.</p>
<table>
<thead><tr>{header}</tr></thead>
<tbody>
{rows or empty}
</tbody>
</table>
</body>
</html>
"""
    )


routes = [Route("/", bookings_page, methods=["GET"])]
