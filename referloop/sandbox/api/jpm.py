"""JPM v2: reading the jobs a CSR booked from bookings."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referloop.sandbox import wire
from referloop.sandbox.pipeline import ApiCall, api_endpoint
from referloop.sandbox.query import paginate

TENANT = "/jpm/v2/tenant/{tenant:int}"


async def get_job(call: ApiCall) -> Response:
    return JSONResponse(wire.job_to_api(call.state.job(call.tenant_id, call.path_id())))


async def list_jobs(call: ApiCall) -> Response:
    query = call.query()
    ids = query.ids()
    booking_id = query.integer("bookingId")
    status = query.text("jobStatus")
    completed_from = query.date_time("completedOnOrAfter")
    completed_before = query.date_time("completedBefore")
    page = query.page()
    jobs = query.dated(call.state.list_jobs(call.tenant_id))
    query.check()
    matching = [
        j
        for j in sorted(jobs, key=lambda j: j.id)
        if (ids is None or j.id in ids)
        and (booking_id is None or j.booking_id == booking_id)
        and (status is None or j.job_status.lower() == status.lower())
        and (completed_from is None or (j.completed_on is not None and j.completed_on >= completed_from))
        and (completed_before is None or (j.completed_on is not None and j.completed_on < completed_before))
    ]
    return JSONResponse(paginate(matching, page, wire.job_to_api))


routes = [
    Route(f"{TENANT}/jobs", api_endpoint("Jobs_GetList")(list_jobs), methods=["GET"]),
    Route(f"{TENANT}/jobs/{{id:int}}", api_endpoint("Jobs_Get")(get_job), methods=["GET"]),
]
