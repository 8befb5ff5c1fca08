"""Accounting v2: reading a job's invoice to see whether it is paid."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referloop.sandbox import wire
from referloop.sandbox.pipeline import ApiCall, api_endpoint
from referloop.sandbox.query import paginate

TENANT = "/accounting/v2/tenant/{tenant:int}"


async def list_invoices(call: ApiCall) -> Response:
    query = call.query()
    ids = query.ids()
    job_id = query.integer("jobId")
    page = query.page()
    invoices = query.dated(call.state.list_invoices(call.tenant_id))
    query.check()
    matching = [
        i
        for i in sorted(invoices, key=lambda i: i.id)
        if (ids is None or i.id in ids) and (job_id is None or i.job_id == job_id)
    ]
    return JSONResponse(paginate(matching, page, wire.invoice_to_api))


routes = [Route(f"{TENANT}/invoices", api_endpoint("Invoices_GetList")(list_invoices), methods=["GET"])]
