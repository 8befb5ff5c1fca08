"""/_sandbox/ controls for customers and pick lists: the office's side (add and change customers, retire a job
type, business unit or campaign) and bulk seeding for benchmarks. Same rules as `control.py` (localhost only,
JSON bodies, {"error": ...} answers); `tenant` defaults to the demo tenant."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from referloop.sandbox import customer_wire as cw
from referloop.sandbox.config import DEMO_TENANT_ID
from referloop.sandbox.control import _control, _fields, _json_object
from referloop.sandbox.customers import Customer, NewContact
from referloop.sandbox.demo_data import generate_customers
from referloop.sandbox.runtime import sandbox_of
from referloop.sandbox.state import NotFound

# URL segment → catalog kind
PICK_LISTS = {
    "job-types": "job_type",
    "business-units": "business_unit",
    "campaigns": "campaign",
    "tag-types": "tag_type",
}
_CUSTOMER_FIELDS = {"tenant_id", "name", "contacts", "tag_type_ids", "active", "custom_fields"}
_CHANGE_FIELDS = {"name", "active", "tag_type_ids", "contacts", "custom_fields"}


def _tenant(request: Request, body: dict[str, Any] | None = None) -> int:
    raw = (body or {}).get("tenant_id", request.query_params.get("tenant", DEMO_TENANT_ID))
    try:
        tenant_id = int(raw)
    except (TypeError, ValueError):
        raise ValueError("tenant must be a tenant id") from None
    if sandbox_of(request).config.tenant(tenant_id) is None:
        raise NotFound(f"Tenant {tenant_id} was not found.")
    return tenant_id


def customer_summary(request: Request, customer: Customer) -> dict[str, Any]:
    crm = sandbox_of(request).state.crm
    with crm.lock:
        names = {t.id: t.name for t in crm.list_field_types(customer.tenant_id)}
        return {
            "tenant_id": customer.tenant_id,
            "customer": cw.customer_to_api(customer, names),
            "contacts": [cw.contact_to_api(c, with_customer=True) for c in customer.contacts],
        }


def _contacts(body: dict[str, Any]) -> list[NewContact]:
    raw = body.get("contacts", [])
    if not isinstance(raw, list) or not all(isinstance(c, dict) and set(c) <= {"type", "value", "memo"} for c in raw):
        raise ValueError('contacts must be a list of {"type": "Email", "value": "...", "memo"?: "..."}')
    return [NewContact(c.get("type", ""), c.get("value", ""), c.get("memo")) for c in raw]


def _custom_fields(body: dict[str, Any]) -> list[tuple[int, str]] | None:
    raw = body.get("custom_fields")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ValueError('custom_fields must be an object {"<typeId>": "value"}')
    try:
        return [(int(type_id), value) for type_id, value in raw.items()]
    except ValueError:
        raise ValueError("custom_fields keys must be custom field type ids") from None


def _optional_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


async def list_customers(request: Request) -> dict[str, Any]:
    tenant_id = _tenant(request)
    customers = sandbox_of(request).state.crm.list_customers(tenant_id)
    return {"customers": [customer_summary(request, c) for c in customers]}


async def add_customer(request: Request) -> dict[str, Any]:
    body = _fields(await _json_object(request), _CUSTOMER_FIELDS)
    fields = _custom_fields(body)
    customer = sandbox_of(request).state.crm.add_customer(
        _tenant(request, body),
        body.get("name", ""),
        contacts=_contacts(body),
        tag_type_ids=body.get("tag_type_ids", []),
        active=_optional_bool(body, "active") is not False,
        custom_fields=dict(fields) if fields else None,
    )
    return customer_summary(request, customer)


async def change_customer(request: Request) -> dict[str, Any]:
    body = _fields(await _json_object(request), _CHANGE_FIELDS)
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError("name must be a non-empty string")
    customer = sandbox_of(request).state.crm.change_customer(
        request.path_params["id"],
        name=name,
        active=_optional_bool(body, "active"),
        tag_type_ids=body.get("tag_type_ids"),
        custom_fields=_custom_fields(body),
        add_contacts=_contacts(body),
    )
    return customer_summary(request, customer)


async def customer_custom_fields(request: Request) -> dict[str, Any]:
    crm = sandbox_of(request).state.crm
    with crm.lock:
        customer = crm.customer(None, request.path_params["id"])
        answer = cw.customer_to_api(customer, {t.id: t.name for t in crm.list_field_types(customer.tenant_id)})
    return {"customer_id": customer.id, "customFields": answer["customFields"]}


async def seed_customers(request: Request) -> dict[str, Any]:
    body = _fields(await _json_object(request), {"tenant_id", "count", "seed"})
    count, seed = body.get("count"), body.get("seed", 1)
    if isinstance(count, bool) or not isinstance(count, int) or isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError('count (and seed, default 1) must be whole numbers, e.g. {"count": 20000, "seed": 1}')
    made = generate_customers(sandbox_of(request).state, _tenant(request, body), count, seed=seed)
    return {"created": len(made), "first_id": made[0].id if made else None, "last_id": made[-1].id if made else None}


async def list_pick_list(request: Request) -> dict[str, Any]:
    kind = _kind(request)
    items = sandbox_of(request).state.catalog.items(kind, _tenant(request))
    return {"items": [{"id": i.id, "name": i.name, "active": i.active} for i in items]}


async def set_pick_list_item(request: Request) -> dict[str, Any]:
    body = _fields(await _json_object(request), {"active"})
    active = _optional_bool(body, "active")
    if active is None:
        raise ValueError('active is required: {"active": false} retires the item')
    item = sandbox_of(request).state.catalog.set_active(
        _kind(request), _tenant(request), request.path_params["id"], active
    )
    return {"id": item.id, "name": item.name, "active": item.active}


async def remove_pick_list_item(request: Request) -> dict[str, Any]:
    item = sandbox_of(request).state.catalog.remove(_kind(request), _tenant(request), request.path_params["id"])
    return {"removed": item.id}


def _kind(request: Request) -> str:
    segment = request.path_params["kind"]
    if segment not in PICK_LISTS:
        raise NotFound(f"No pick list {segment!r}; there are {', '.join(PICK_LISTS)}.")
    return PICK_LISTS[segment]


routes = [
    Route("/_sandbox/customers", _control(list_customers), methods=["GET"]),
    Route("/_sandbox/customers", _control(add_customer), methods=["POST"]),
    Route("/_sandbox/customers/seed", _control(seed_customers), methods=["POST"]),
    Route("/_sandbox/customers/{id:int}/change", _control(change_customer), methods=["POST"]),
    Route("/_sandbox/customers/{id:int}/custom-fields", _control(customer_custom_fields), methods=["GET"]),
    Route("/_sandbox/pick-lists/{kind}", _control(list_pick_list), methods=["GET"]),
    Route("/_sandbox/pick-lists/{kind}/{id:int}", _control(set_pick_list_item), methods=["PATCH"]),
    Route("/_sandbox/pick-lists/{kind}/{id:int}", _control(remove_pick_list_item), methods=["DELETE"]),
]
