"""CRM v2: bookings, their contacts, and booking provider tags."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referloop.sandbox import wire
from referloop.sandbox.errors import not_found, validation_error
from referloop.sandbox.pipeline import ApiCall, DroppedResponse, api_endpoint
from referloop.sandbox.query import paginate
from referloop.sandbox.schemas import CONTACT_TYPES

TENANT = "/crm/v2/tenant/{tenant:int}"
PROVIDER = TENANT + "/booking-provider/{booking_provider:int}"


def _provider_id(call: ApiCall) -> int | None:
    """The booking provider in the path (404 if the tenant has no such tag), None on tenant-level routes."""
    return call.provider().id if "booking_provider" in call.request.path_params else None


async def create_booking(call: ApiCall) -> Response:
    provider = call.provider()
    body = await call.body("CreateBookingRequest")
    booking, contacts = wire.booking_from_request(call.tenant_id, provider.id, body)
    call.state.add_booking(booking, contacts)
    payload = wire.booking_to_api(booking)
    if call.sandbox.chaos.drops_after_create():
        return DroppedResponse(payload)
    return JSONResponse(payload)


async def list_bookings(call: ApiCall) -> Response:
    provider_id = _provider_id(call)
    query = call.query()
    ids = query.ids()
    external_id = query.text("externalId")
    page = query.page()
    dates = query.dates()
    query.check()
    with call.state.lock:  # a consistent answer even while a test changes records from its own thread
        matching = [
            b
            for b in sorted(call.state.list_bookings(call.tenant_id, provider_id), key=lambda b: b.id)
            if (ids is None or b.id in ids) and (external_id is None or b.external_id == external_id) and dates(b)
        ]
        return JSONResponse(paginate(matching, page, wire.booking_to_api))


async def get_booking(call: ApiCall) -> Response:
    booking = call.state.booking(call.tenant_id, call.path_id(), _provider_id(call))
    with call.state.lock:
        return JSONResponse(wire.booking_to_api(booking))


async def update_booking(call: ApiCall) -> Response:
    booking = call.state.booking(call.tenant_id, call.path_id(), _provider_id(call))
    body = await call.body("UpdateBookingRequest")
    call.state.update_booking(booking, wire.booking_changes(body))
    return JSONResponse(wire.booking_to_api(booking))


async def list_contacts(call: ApiCall) -> Response:
    booking = call.state.booking(call.tenant_id, call.path_id(), _provider_id(call))
    query = call.query()
    page = query.page()
    query.check()
    return JSONResponse(paginate(list(booking.contacts), page, wire.contact_to_api))


async def create_contact(call: ApiCall) -> Response:
    booking = call.state.booking(call.tenant_id, call.path_id(), _provider_id(call))
    body = await call.body("ContactCreateRequest")
    # The request types `type` as free text, but the response can only carry a ContactType.
    contact_type = wire.contact_type(body["type"])
    if contact_type is None:
        raise validation_error(
            {"type": [f"The value '{body['type']}' is not valid. Allowed values: {', '.join(CONTACT_TYPES)}."]}
        )
    contact = call.state.add_contact(booking, contact_type, body["value"], body.get("memo"))
    return JSONResponse(wire.contact_to_api(contact))


async def list_booking_provider_tags(call: ApiCall) -> Response:
    query = call.query()
    ids = query.ids()
    name = query.text("name")
    page = query.page()
    query.check()
    tags = [
        p
        for p in sorted(call.tenant.booking_providers, key=lambda p: p.id)
        if (ids is None or p.id in ids) and (name is None or name.lower() in p.name.lower())
    ]
    return JSONResponse(paginate(tags, page, wire.tag_to_api))


async def get_booking_provider_tag(call: ApiCall) -> Response:
    tag_id = call.path_id()
    provider = call.tenant.provider(tag_id)
    if provider is None:
        raise not_found(f"Booking provider tag {tag_id} was not found.")
    return JSONResponse(wire.tag_to_api(provider))


routes = [
    Route(f"{PROVIDER}/bookings", api_endpoint("Bookings_Create")(create_booking), methods=["POST"]),
    Route(f"{PROVIDER}/bookings", api_endpoint("Bookings_GetList2")(list_bookings), methods=["GET"]),
    Route(
        f"{PROVIDER}/bookings/{{id:int}}",
        api_endpoint("Bookings_GetForProvider")(get_booking),
        methods=["GET"],
    ),
    Route(f"{PROVIDER}/bookings/{{id:int}}", api_endpoint("Bookings_Update")(update_booking), methods=["PATCH"]),
    Route(
        f"{PROVIDER}/bookings/{{id:int}}/contacts",
        api_endpoint("Bookings_GetContactList2")(list_contacts),
        methods=["GET"],
    ),
    Route(
        f"{PROVIDER}/bookings/{{id:int}}/contacts",
        api_endpoint("Bookings_CreateContact")(create_contact),
        methods=["POST"],
    ),
    Route(f"{TENANT}/bookings", api_endpoint("Bookings_GetList")(list_bookings), methods=["GET"]),
    Route(f"{TENANT}/bookings/{{id:int}}", api_endpoint("Bookings_Get")(get_booking), methods=["GET"]),
    Route(
        f"{TENANT}/bookings/{{id:int}}/contacts",
        api_endpoint("Bookings_GetContactList")(list_contacts),
        methods=["GET"],
    ),
    Route(
        f"{TENANT}/booking-provider-tags",
        api_endpoint("BookingProviderTags_GetList")(list_booking_provider_tags),
        methods=["GET"],
    ),
    Route(
        f"{TENANT}/booking-provider-tags/{{id:int}}",
        api_endpoint("BookingProviderTags_Get")(get_booking_provider_tag),
        methods=["GET"],
    ),
]
