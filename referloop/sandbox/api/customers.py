"""CRM v2: customers, their contacts, their custom field types, and the customer export feeds."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referloop.sandbox import customer_wire as cw
from referloop.sandbox.customers import Customer, CustomerContact, UnknownCustomField, phone_digits
from referloop.sandbox.errors import validation_error
from referloop.sandbox.export import ExportRequest, decode_from, export_page
from referloop.sandbox.pipeline import ApiCall, api_endpoint
from referloop.sandbox.query import Query, paginate

TENANT = "/crm/v2/tenant/{tenant:int}"
ACTIVE_VALUES = ("True", "Any", "False")  # crm-v2's ActiveRequestArg


def active_filter(query: Query) -> bool | None:
    """`active` as ServiceTitan's lists take it: True (the default) or False, None for Any."""
    value = query.choice("active", ACTIVE_VALUES) or "True"
    return None if value == "Any" else value == "True"


def _field_names(call: ApiCall) -> dict[int, str]:
    return {t.id: t.name for t in call.state.crm.list_field_types(call.tenant_id)}


def _customer_json(call: ApiCall) -> Any:
    names = _field_names(call)
    return lambda customer: cw.customer_to_api(customer, names)


async def list_customers(call: ApiCall) -> Response:
    query = call.query()
    ids = query.ids()
    active = active_filter(query)
    name = query.text("name")
    phone = query.text("phone")
    page = query.page()
    dates = query.dates()
    query.check()
    wanted_phone = phone_digits(phone) if phone else None
    with call.state.lock:  # a consistent answer even while a test changes records from its own thread
        matching = [
            c
            for c in call.state.crm.list_customers(call.tenant_id)
            if (ids is None or c.id in ids)
            and (active is None or c.active == active)
            and (name is None or name.lower() in c.name.lower())
            and (wanted_phone is None or any(phone_digits(p) == wanted_phone for p in c.phones()))
            and dates(c)
        ]
        return JSONResponse(paginate(matching, page, _customer_json(call)))


async def get_customer(call: ApiCall) -> Response:
    customer = call.state.crm.customer(call.tenant_id, call.path_id())
    with call.state.lock:
        return JSONResponse(cw.customer_to_api(customer, _field_names(call)))


# UpdateCustomerRequest flags → Customer attributes.
_FLAGS = {
    "doNotMail": "do_not_mail",
    "doNotService": "do_not_service",
    "nationalAccount": "national_account",
    "taxExempt": "tax_exempt",
}


async def update_customer(call: ApiCall) -> Response:
    customer = call.state.crm.customer(call.tenant_id, call.path_id())
    body = await call.body("UpdateCustomerRequest")
    address = body.get("address")
    try:
        call.state.crm.change_customer(
            customer.id,
            name=body.get("name"),
            active=body.get("active"),
            tag_type_ids=body.get("tagTypeIds"),
            custom_fields=[(f["typeId"], f["value"]) for f in body.get("customFields") or []],
            flags={attr: body[prop] for prop, attr in _FLAGS.items() if prop in body},
            address={k: address[k] for k in ("street", "unit", "city", "state", "zip", "country")} if address else None,
            type_=body.get("type"),
        )
    except UnknownCustomField as problem:
        raise validation_error({f"customFields[{problem.index}].typeId": [str(problem)]}) from None
    with call.state.lock:
        return JSONResponse(cw.customer_to_api(customer, _field_names(call)))


async def list_customer_contacts(call: ApiCall) -> Response:
    customer = call.state.crm.customer(call.tenant_id, call.path_id())
    query = call.query()
    page = query.page()
    query.check()
    with call.state.lock:
        return JSONResponse(paginate(list(customer.contacts), page, cw.contact_to_api))


async def list_contacts(call: ApiCall) -> Response:
    """Customers_GetModifiedContactsList: the tenant's contacts by customer ids and/or a modified-on window."""
    query = call.query()
    customer_ids = query.ids("customerIds")
    page = query.page()
    dates = query.dates()
    query.check()
    if customer_ids is None and dates.modified_from is None and dates.modified_before is None:
        # The document: "Either CustomerIds, modifiedOn or modifiedOnOrAfter parameter must be specified".
        raise validation_error(
            {"customerIds": ["Either customerIds, modifiedBefore or modifiedOnOrAfter must be specified."]}
        )
    with call.state.lock:
        matching = [
            c
            for c in call.state.crm.contacts(call.tenant_id)
            if (customer_ids is None or c.customer_id in customer_ids) and dates(c)
        ]
        return JSONResponse(paginate(matching, page, lambda c: cw.contact_to_api(c, with_customer=True)))


async def list_custom_field_types(call: ApiCall) -> Response:
    query = call.query()
    page = query.page()
    dates = query.dates()
    query.check()
    matching = [t for t in call.state.crm.list_field_types(call.tenant_id) if dates(t)]
    return JSONResponse(paginate(matching, page, cw.field_type_to_api))


def _export_request(call: ApiCall) -> ExportRequest:
    query = call.query()
    raw_from = query.text("from")
    include_recent = query.boolean("includeRecentChanges")
    query.check()
    return ExportRequest(decode_from(raw_from), bool(include_recent))


async def export_customers(call: ApiCall) -> Response:
    request = _export_request(call)
    config = call.sandbox.config
    with call.state.lock:
        customers: list[Customer] = call.state.crm.list_customers(call.tenant_id)
        return JSONResponse(
            export_page(
                customers,
                request,
                page_size=config.export_page_size,
                lag_seconds=config.export_lag_seconds,
                to_api=_customer_json(call),
            )
        )


async def export_contacts(call: ApiCall) -> Response:
    request = _export_request(call)
    config = call.sandbox.config
    with call.state.lock:
        contacts: list[CustomerContact] = call.state.crm.contacts(call.tenant_id)
        return JSONResponse(
            export_page(
                contacts,
                request,
                page_size=config.export_page_size,
                lag_seconds=config.export_lag_seconds,
                to_api=lambda c: cw.contact_to_api(c, with_customer=True, with_active=True),
            )
        )


routes = [
    # Literal paths before `{id}`, as ASP.NET's routing prefers them.
    Route(
        f"{TENANT}/customers/contacts",
        api_endpoint("Customers_GetModifiedContactsList")(list_contacts),
        methods=["GET"],
    ),
    Route(
        f"{TENANT}/customers/custom-fields",
        api_endpoint("Customers_GetCustomFieldTypes")(list_custom_field_types),
        methods=["GET"],
    ),
    Route(f"{TENANT}/customers", api_endpoint("Customers_GetList")(list_customers), methods=["GET"]),
    Route(f"{TENANT}/customers/{{id:int}}", api_endpoint("Customers_Get")(get_customer), methods=["GET"]),
    Route(f"{TENANT}/customers/{{id:int}}", api_endpoint("Customers_Update")(update_customer), methods=["PATCH"]),
    Route(
        f"{TENANT}/customers/{{id:int}}/contacts",
        api_endpoint("Customers_GetContactList")(list_customer_contacts),
        methods=["GET"],
    ),
    Route(
        f"{TENANT}/export/customers/contacts",
        api_endpoint("ExportContacts_CustomersContacts")(export_contacts),
        methods=["GET"],
    ),
    Route(
        f"{TENANT}/export/customers", api_endpoint("ExportCustomers_GetCustomers")(export_customers), methods=["GET"]
    ),
]
