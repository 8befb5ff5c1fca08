"""JPM v2: reading the jobs a CSR booked from bookings."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referloop.sandbox import wire
from referloop.sandbox.pipeline import ApiCall, api_endpoint
from referloop.sandbox.query import paginate
from referloop.sandbox.state import JOB_STATUSES

TENANT = "/jpm/v2/tenant/{tenant:int}"


async def get_job(call: ApiCall) -> Response:
    job = call.state.job(call.tenant_id, call.path_id())
    with call.state.lock:
        return JSONResponse(wire.job_to_api(job))


async def list_jobs(call: ApiCall) -> Response:
    query = call.query()
    ids = query.ids()
    booking_id = query.integer("bookingId")
    invoice_id = query.integer("invoiceId")
    customer_id = query.integer("customerId")
    number = query.text("number")
    status = query.choice("jobStatus", JOB_STATUSES)
    completed_from = query.date_time("completedOnOrAfter")
    completed_before = query.date_time("completedBefore")
    page = query.page()
    dates = query.dates()
    query.check()
    with call.state.lock:  # a consistent answer even while a test changes records from its own thread
        matching = [
            j
            for j in sorted(call.state.list_jobs(call.tenant_id), key=lambda j: j.id)
            if (ids is None or j.id in ids)
            and (booking_id is None or j.booking_id == booking_id)
            and (invoice_id is None or j.invoice_id == invoice_id)
            and (customer_id is None or j.customer_id == customer_id)
            and (number is None or wire.job_number(j) == number)
            and (status is None or j.job_status == status)
            and (completed_from is None or (j.completed_on is not None and j.completed_on >= completed_from))
            and (completed_before is None or (j.completed_on is not None and j.completed_on < completed_before))
            and dates(j)
        ]
        return JSONResponse(paginate(matching, page, wire.job_to_api))


routes = [
    Route(f"{TENANT}/jobs", api_endpoint("Jobs_GetList")(list_jobs), methods=["GET"]),
    Route(f"{TENANT}/jobs/{{id:int}}", api_endpoint("Jobs_Get")(get_job), methods=["GET"]),
]
