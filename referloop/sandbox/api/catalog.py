"""The pick lists a booking refers to: jpm-v2 job types, settings-v2 business units, marketing-v2 campaigns; and
settings-v2 tag types, which a customer's `tagTypeIds` refer to."""

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


def _lister(kind: str, to_api: Callable[[CatalogItem], dict[str, Any]], *, by_id_and_name: bool = True) -> Handler:
    """A list handler with the filters the documents declare: active, paging, dates, and (`by_id_and_name`, all but
    TagTypes_GetList) ids and name (contains). A parameter a document does not declare is never read."""

    async def list_items(call: ApiCall) -> Response:
        query = call.query()
        ids = query.ids() if by_id_and_name else None
        name = query.text("name") if by_id_and_name else None
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
    Route(
        "/settings/v2/tenant/{tenant:int}/tag-types",
        api_endpoint("TagTypes_GetList")(_lister("tag_type", cw.tag_type_to_api, by_id_and_name=False)),
        methods=["GET"],
    ),
]
