"""The pick lists a booking refers to by id: jpm-v2 job types, settings-v2 business units, marketing-v2 campaigns;
and settings-v2 tag types (TagTypes_GetList), which the customer sync's "Customers with a tag" refers to by id.

Each call reads one page of the active items; the clients' `list_*` methods follow `has_more` to read them all.
"""

from __future__ import annotations

from .auth import Credentials
from .calls import PAGE_SIZE, ApiCall, Page, _context, _page
from .customer_models import PickListItem

# kind → (path below /tenant/{t}, what a sentence calls it)
PICK_LISTS = {
    "job_type": ("/jpm/v2/tenant/{tenant}/job-types", "job types"),
    "business_unit": ("/settings/v2/tenant/{tenant}/business-units", "business units"),
    "campaign": ("/marketing/v2/tenant/{tenant}/campaigns", "marketing campaigns"),
    "tag_type": ("/settings/v2/tenant/{tenant}/tag-types", "tag types"),
}


def list_pick_list(credentials: Credentials, kind: str, page: int = 1) -> ApiCall[Page[PickListItem]]:
    """One page of the tenant's active items of `kind` ("job_type", "business_unit", "campaign" or "tag_type"), in id
    order. Only parameters every one of these operations declares: active, page, pageSize."""
    if kind not in PICK_LISTS:
        raise ValueError(f"{kind!r} is not a pick list (one of {', '.join(PICK_LISTS)})")
    path, label = PICK_LISTS[kind]
    return ApiCall(
        "GET",
        path.format(tenant=credentials.tenant_id),
        _context(credentials, f"list the {label}"),
        lambda data: _page(data, PickListItem.from_api),
        params={"active": "True", "page": page, "pageSize": PAGE_SIZE},
    )
