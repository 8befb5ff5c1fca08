"""/_sandbox/: knobs, tenants, inspection, the call log, and the CSR's side of a booking's life (book it into a
job or dismiss it, move the job through its statuses, set its total, pay its invoice).

No authentication: the sandbox is for a developer's machine and CI only, never a shared network (and
`referloop serve` starts it with DEBUG off only when asked with --sandbox). Still, a web page the developer
visits must not drive it: a request whose `Origin` is not the sandbox's own is refused (403), and a request with
a body must say `Content-Type: application/json` (415), which a cross-site "simple" request (a form post, a
no-cors fetch) cannot send without a CORS preflight, which the sandbox never grants.
Answers are plain JSON; errors are {"error": "..."} with 400, 403, 404, 409 or 415.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referloop.sandbox import wire
from referloop.sandbox.config import TenantConfig
from referloop.sandbox.runtime import sandbox_of
from referloop.sandbox.state import (
    DEFAULT_DISMISSING_REASON_ID,
    DEFAULT_JOB_TOTAL,
    Booking,
    Conflict,
    Invoice,
    Job,
    NotFound,
    counts_by_external_id,
    money,
)


def _control(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    """Turn a handler's return value into JSON and its errors into {"error": ...} answers."""

    async def endpoint(request: Request) -> Response:
        refusal = _refusal(request)
        if refusal is not None:
            return refusal
        try:
            return JSONResponse(await handler(request))
        except Conflict as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except NotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

    return endpoint


def _refusal(request: Request) -> JSONResponse | None:
    """403 for a name that is not this machine or a foreign Origin, 415 for a body that is not declared JSON;
    None when the request may go on."""
    hostname = request.url.hostname or ""
    if not (hostname in {"localhost", "::1"} or hostname.startswith("127.")):
        # A page on evil.example whose name was re-pointed at 127.0.0.1 (DNS rebinding) is same-origin with
        # itself, so the Origin check alone would let it read the tenants' secrets; its Host header gives it away.
        return JSONResponse({"error": f"the sandbox's controls answer on localhost only, not {hostname!r}"}, 403)
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin is not None and origin != own:
        return JSONResponse({"error": f"cross-origin requests are refused (Origin {origin!r})"}, status_code=403)
    if request.method in {"POST", "PUT", "PATCH", "DELETE"}:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
        if (content_type or has_body) and content_type != "application/json":
            return JSONResponse({"error": "send the body as JSON (Content-Type: application/json)"}, status_code=415)
    return None


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


async def get_config(request: Request) -> dict[str, Any]:
    return sandbox_of(request).config.to_dict()


async def patch_config(request: Request) -> dict[str, Any]:
    sandbox = sandbox_of(request)
    sandbox.set_knobs(await _json_object(request))
    return sandbox.config.to_dict()


async def put_tenant(request: Request) -> dict[str, Any]:
    tenant = TenantConfig.from_dict(await _json_object(request))
    sandbox_of(request).config.put_tenant(tenant)
    return tenant.to_dict()


async def list_bookings(request: Request) -> dict[str, Any]:
    raw_tenant = request.query_params.get("tenant")
    if raw_tenant is not None and not raw_tenant.isdigit():
        raise ValueError("tenant must be a tenant id")
    bookings = sorted(
        sandbox_of(request).state.list_bookings(int(raw_tenant) if raw_tenant else None), key=lambda b: b.id
    )
    counts = counts_by_external_id(bookings)
    return {
        "bookings": [booking_summary(b) for b in bookings],
        "counts_by_external_id": counts,
        "duplicate_external_ids": sorted(external_id for external_id, n in counts.items() if n > 1),
    }


def booking_summary(booking: Booking) -> dict[str, Any]:
    return {
        "tenant_id": booking.tenant_id,
        "booking": wire.booking_to_api(booking),
        "contacts": [wire.contact_to_api(c) for c in booking.contacts],
    }


def _fields(body: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    """The body, refused whole if it names anything else (a typo must not pass as "use the default")."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; this endpoint takes {', '.join(sorted(allowed))}")
    return body


def _amount(body: dict[str, Any], name: str) -> Decimal | None:
    """The amount under `name` (checked by state.money), as a string or a number; None when absent."""
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
        raise ValueError(f'{name} must be an amount such as "250.00"')
    return None if value is None else money(value)


def _when(body: dict[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 date-time string")
    try:
        return wire.parse_dt(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an ISO 8601 date-time string, not {value!r}") from exc


def _job_and_invoice(request: Request, job: Job) -> dict[str, Any]:
    state = sandbox_of(request).state
    with state.lock:
        return {"job": wire.job_to_api(job), "invoice": wire.invoice_to_api(state.invoices[job.invoice_id])}


def _invoice_answer(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice": wire.invoice_to_api(invoice),
        "payments": [{"amount": f"{p.amount:.2f}", "paidOn": wire.format_dt(p.paid_on)} for p in invoice.payments],
    }


async def book_job(request: Request) -> dict[str, Any]:
    body = _fields(await _json_object(request), {"total"})
    total = _amount(body, "total")
    booking, job, invoice = sandbox_of(request).state.convert_to_job(
        request.path_params["id"], DEFAULT_JOB_TOTAL if total is None else total
    )
    return {
        "booking": wire.booking_to_api(booking),
        "job": wire.job_to_api(job),
        "invoice": wire.invoice_to_api(invoice),
    }


async def dismiss_booking(request: Request) -> dict[str, Any]:
    body = _fields(await _json_object(request), {"dismissingReasonId"})
    reason_id = body.get("dismissingReasonId", DEFAULT_DISMISSING_REASON_ID)
    booking = sandbox_of(request).state.dismiss_booking(request.path_params["id"], reason_id)
    return {"booking": wire.booking_to_api(booking)}


async def set_job_status(request: Request) -> dict[str, Any]:
    body = _fields(await _json_object(request), {"jobStatus", "total", "completedOn"})
    if not isinstance(body.get("jobStatus"), str):
        raise ValueError("jobStatus is required: one of Scheduled, Dispatched, InProgress, Hold, Completed, Canceled")
    job = sandbox_of(request).state.set_job_status(
        request.path_params["id"],
        body["jobStatus"],
        total=_amount(body, "total"),
        completed_on=_when(body, "completedOn"),
    )
    return _job_and_invoice(request, job)


async def complete_job(request: Request) -> dict[str, Any]:
    body = _fields(await _json_object(request), {"total", "completedOn"})
    job = sandbox_of(request).state.complete_job(
        request.path_params["id"], total=_amount(body, "total"), completed_on=_when(body, "completedOn")
    )
    return _job_and_invoice(request, job)


async def set_job_total(request: Request) -> dict[str, Any]:
    body = _fields(await _json_object(request), {"total"})
    total = _amount(body, "total")
    if total is None:
        raise ValueError('total is required, e.g. {"total": "480.00"}')
    job = sandbox_of(request).state.set_job_total(request.path_params["id"], total)
    return _job_and_invoice(request, job)


async def pay_invoice(request: Request) -> dict[str, Any]:
    body = _fields(await _json_object(request), {"amount"})
    invoice = sandbox_of(request).state.pay_invoice(request.path_params["id"], _amount(body, "amount"))
    return _invoice_answer(invoice)


async def calls(request: Request) -> dict[str, Any]:
    params = request.query_params
    since, tenant = params.get("since", "0"), params.get("tenant")
    if not since.isdigit():
        raise ValueError("since must be a mark (a whole number from /_sandbox/calls/mark)")
    if tenant is not None and not tenant.isdigit():
        raise ValueError("tenant must be a tenant id")
    mark, found = sandbox_of(request).stats.calls_and_mark(
        int(since), params.get("operation"), int(tenant) if tenant else None
    )
    return {"mark": mark, "calls": [call.to_dict() for call in found]}


async def calls_mark(request: Request) -> dict[str, Any]:
    return {"mark": sandbox_of(request).stats.mark()}


async def expire_tokens(request: Request) -> dict[str, Any]:
    return {"expired": sandbox_of(request).tokens.expire_all()}


async def reset(request: Request) -> dict[str, Any]:
    sandbox_of(request).reset()
    return {"reset": True}


async def stats(request: Request) -> dict[str, Any]:
    return sandbox_of(request).stats.snapshot()


routes = [
    Route("/_sandbox/config", _control(get_config), methods=["GET"]),
    Route("/_sandbox/config", _control(patch_config), methods=["PATCH"]),
    Route("/_sandbox/tenants", _control(put_tenant), methods=["POST"]),
    Route("/_sandbox/bookings", _control(list_bookings), methods=["GET"]),
    Route("/_sandbox/bookings/{id:int}/job", _control(book_job), methods=["POST"]),
    Route("/_sandbox/bookings/{id:int}/dismiss", _control(dismiss_booking), methods=["POST"]),
    Route("/_sandbox/jobs/{id:int}/status", _control(set_job_status), methods=["POST"]),
    Route("/_sandbox/jobs/{id:int}/complete", _control(complete_job), methods=["POST"]),
    Route("/_sandbox/jobs/{id:int}/total", _control(set_job_total), methods=["POST"]),
    Route("/_sandbox/invoices/{id:int}/pay", _control(pay_invoice), methods=["POST"]),
    Route("/_sandbox/tokens/expire", _control(expire_tokens), methods=["POST"]),
    Route("/_sandbox/reset", _control(reset), methods=["POST"]),
    Route("/_sandbox/stats", _control(stats), methods=["GET"]),
    Route("/_sandbox/calls", _control(calls), methods=["GET"]),
    Route("/_sandbox/calls/mark", _control(calls_mark), methods=["GET"]),
]
