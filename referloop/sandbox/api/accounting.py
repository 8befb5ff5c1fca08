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
    # accounting-v2 does not say how many ids it takes; the sandbox holds it to the 50 of the other lists.
    ids = query.ids()
    job_id = query.integer("jobId")
    job_number = query.text("jobNumber")
    customer_id = query.integer("customerId")
    number = query.text("number")
    page = query.page()
    dates = query.dates()
    query.check()
    with call.state.lock:  # a consistent answer even while a test changes records from its own thread
        matching = [
            i
            for i in sorted(call.state.list_invoices(call.tenant_id), key=lambda i: i.id)
            if (ids is None or i.id in ids)
            and (job_id is None or i.job_id == job_id)
            and (job_number is None or wire.invoice_job_number(i) == job_number)
            and (customer_id is None or i.customer_id == customer_id)
            and (number is None or wire.invoice_number(i) == number)
            and dates(i)
        ]
        return JSONResponse(paginate(matching, page, wire.invoice_to_api))


routes = [Route(f"{TENANT}/invoices", api_endpoint("Invoices_GetList")(list_invoices), methods=["GET"])]
