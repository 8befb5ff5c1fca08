"""The pick lists a booking refers to: jpm-v2 job types, settings-v2 business units, marketing-v2 campaigns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referloop.sandbox import customer_wire as cw
from referloop.sandbox.api.customers import active_filter
from referloop.sandbox.catalog import CatalogItem
from referloop.sandbox.pipeline import ApiCall, Handler, api_endpoint
from referloop.sandbox.query import paginate


def _lister(kind: str, to_api: Callable[[CatalogItem], dict[str, Any]]) -> Handler:
    """A list handler with the filters all three documents declare: ids, name (contains), active, paging, dates."""

    async def list_items(call: ApiCall) -> Response:
        query = call.query()
        ids = query.ids()
        name = query.text("name")
        active = active_filter(query)
        page = query.page()
        dates = query.dates()
        query.check()
        with call.state.lock:
            matching = [
                item
                for item in call.state.catalog.items(kind, call.tenant_id)
                if (ids is None or item.id in ids)
                and (name is None or name.lower() in item.name.lower())
                and (active is None or item.active == active)
                and dates(item)
            ]
            return JSONResponse(paginate(matching, page, to_api))

    return list_items


routes = [
    Route(
        "/jpm/v2/tenant/{tenant:int}/job-types",
        api_endpoint("JobTypes_GetList")(_lister("job_type", cw.job_type_to_api)),
        methods=["GET"],
    ),
    Route(
        "/settings/v2/tenant/{tenant:int}/business-units",
        api_endpoint("BusinessUnits_GetList")(_lister("business_unit", cw.business_unit_to_api)),
        methods=["GET"],
    ),
    Route(
        "/marketing/v2/tenant/{tenant:int}/campaigns",
        api_endpoint("Campaigns_GetList")(_lister("campaign", cw.campaign_to_api)),
        methods=["GET"],
    ),
]
