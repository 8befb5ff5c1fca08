"""CRM bookings, contacts and booking provider tags, over real HTTP."""

from __future__ import annotations

import time

import httpx

from referloop.sandbox import DEMO_TENANT_ID, BookingProvider
from referloop.sandbox.testing import SandboxHandle
from tests.sandbox.helpers import BOOKINGS, booking_body

TENANT = f"/crm/v2/tenant/{DEMO_TENANT_ID}"


def test_create_booking_answers_200_with_a_new_booking(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    response = client.post(BOOKINGS, json=booking_body(priority="High"), headers=headers)

    assert response.status_code == 200
    booking = response.json()
    assert booking["status"] == "New"
    assert booking["bookingProviderId"] == 42
    assert booking["externalId"] == "lead-1"
    assert booking["priority"] == "High"
    assert booking["jobId"] is None
    assert booking["start"] == booking["createdOn"]
    assert booking["createdOn"].endswith("Z")
    assert [b.id for b in sandbox.bookings()] == [booking["id"]]
    assert sandbox.bookings()[0].contacts[0].value == "ann@example.com"


def test_create_booking_stores_the_start_in_utc(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.post(BOOKINGS, json=booking_body(start="2030-05-01T09:30:00-05:00"), headers=headers)

    assert response.json()["start"] == "2030-05-01T14:30:00.000000Z"


def test_create_booking_requires_a_start_with_a_utc_offset(client: httpx.Client, headers: dict[str, str]) -> None:
    for start in ("2030-05-01", "2030-05-01T09:30:00"):
        response = client.post(BOOKINGS, json=booking_body(start=start), headers=headers)

        assert response.json()["errors"] == {"start": [f"The value '{start}' is not a valid date-time."]}


def test_create_booking_narrows_an_unknown_customer_type_to_null(client: httpx.Client, headers: dict[str, str]) -> None:
    known = client.post(BOOKINGS, json=booking_body(customerType="residential"), headers=headers)
    unknown = client.post(BOOKINGS, json=booking_body(customerType="Industrial"), headers=headers)

    assert known.json()["customerType"] == "Residential"
    assert unknown.json()["customerType"] is None


def test_create_booking_answers_400_naming_the_unknown_property(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    body = booking_body(email="ann@example.com")
    body["address"]["apartment"] = "2B"

    response = client.post(BOOKINGS, json=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["title"] == "One or more validation errors occurred."
    assert response.json()["errors"] == {
        "address.apartment": ["The property 'apartment' is not allowed here."],
        "email": ["The property 'email' is not allowed here."],
    }
    assert sandbox.bookings() == []


def test_create_booking_answers_400_naming_each_missing_required_field(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    body = booking_body()
    del body["externalId"]
    del body["address"]["city"]

    response = client.post(BOOKINGS, json=body, headers=headers)

    assert response.json()["errors"] == {
        "address.city": ["The city field is required."],
        "externalId": ["The externalId field is required."],
    }


def test_create_booking_answers_400_for_wrong_types_and_enum_values(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    body = booking_body(
        isFirstTimeClient="yes",
        campaignId=1.0,
        priority="Whenever",
        contacts=[{"type": "Mail", "value": "ann@example.com"}],
        start="next tuesday",
    )

    response = client.post(BOOKINGS, json=body, headers=headers)

    assert response.json()["errors"] == {
        "campaignId": ["The value must be an integer or null, not a number."],
        "contacts[0].type": ["The value 'Mail' is not valid. Allowed values: Phone, Email, Fax, MobilePhone."],
        "isFirstTimeClient": ["The value must be true or false, not a string."],
        "priority": ["The value 'Whenever' is not valid. Allowed values: Low, Normal, High, Urgent."],
        "start": ["The value 'next tuesday' is not a valid date-time."],
    }


def test_create_booking_answers_400_for_a_body_that_is_not_a_json_object(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    json_headers = {**headers, "Content-Type": "application/json"}
    malformed = client.post(BOOKINGS, content=b'{"source": ', headers=json_headers)
    empty = client.post(BOOKINGS, content=b"", headers=json_headers)
    array = client.post(BOOKINGS, json=[booking_body()], headers=headers)

    assert set(malformed.json()["errors"]) == {"$"}
    assert empty.json()["errors"] == {"$": ["A non-empty request body is required."]}
    assert array.json()["errors"] == {"$": ["The value must be an object, not an array."]}


def test_create_booking_answers_415_for_a_body_that_is_not_json(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.post(BOOKINGS, data={"source": "x"}, headers=headers)

    assert response.status_code == 415


def test_an_unknown_booking_provider_gets_404(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.post(f"{TENANT}/booking-provider/43/bookings", json=booking_body(), headers=headers)

    assert response.status_code == 404
    assert response.json()["title"] == f"Booking provider 43 was not found for tenant {DEMO_TENANT_ID}."


def test_an_unknown_booking_id_gets_404(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.get(f"{BOOKINGS}/10999999", headers=headers)

    assert response.status_code == 404
    assert response.json()["title"] == "Booking 10999999 was not found."


def test_a_booking_is_readable_through_its_provider_and_at_tenant_level(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    booking_id = client.post(BOOKINGS, json=booking_body(), headers=headers).json()["id"]

    by_provider = client.get(f"{BOOKINGS}/{booking_id}", headers=headers)
    by_tenant = client.get(f"{TENANT}/bookings/{booking_id}", headers=headers)

    assert by_provider.json() == by_tenant.json()
    assert by_tenant.json()["id"] == booking_id


def test_list_by_external_id_finds_every_booking_with_it(client: httpx.Client, headers: dict[str, str]) -> None:
    for external_id in ("lead-1", "lead-2", "lead-1"):
        client.post(BOOKINGS, json=booking_body(externalId=external_id), headers=headers)

    listed = client.get(BOOKINGS, params={"externalId": "lead-1", "includeTotal": "true"}, headers=headers)
    counts = client.get("/_sandbox/bookings").json()

    assert [b["externalId"] for b in listed.json()["data"]] == ["lead-1", "lead-1"]
    assert listed.json()["totalCount"] == 2
    assert counts["counts_by_external_id"] == {"lead-1": 2, "lead-2": 1}
    assert counts["duplicate_external_ids"] == ["lead-1"]


def test_list_pages_through_bookings_in_id_order(client: httpx.Client, headers: dict[str, str]) -> None:
    ids = [
        client.post(BOOKINGS, json=booking_body(externalId=f"lead-{n}"), headers=headers).json()["id"] for n in range(5)
    ]

    first = client.get(BOOKINGS, params={"pageSize": 2}, headers=headers).json()
    last = client.get(BOOKINGS, params={"pageSize": 2, "page": 3, "includeTotal": "true"}, headers=headers).json()

    assert [b["id"] for b in first["data"]] == ids[:2]
    assert first["hasMore"] is True
    assert first["totalCount"] is None
    assert [b["id"] for b in last["data"]] == ids[4:]
    assert last["hasMore"] is False
    assert last["totalCount"] == 5


def test_list_filters_by_ids_and_modified_on_or_after(client: httpx.Client, headers: dict[str, str]) -> None:
    first = client.post(BOOKINGS, json=booking_body(externalId="a"), headers=headers).json()
    time.sleep(0.01)
    second = client.post(BOOKINGS, json=booking_body(externalId="b"), headers=headers).json()

    by_ids = client.get(BOOKINGS, params={"ids": f"{first['id']},{second['id']}"}, headers=headers).json()
    recent = client.get(BOOKINGS, params={"modifiedOnOrAfter": second["modifiedOn"]}, headers=headers).json()

    assert len(by_ids["data"]) == 2
    assert [b["id"] for b in recent["data"]] == [second["id"]]


def test_list_answers_400_for_bad_query_values(client: httpx.Client, headers: dict[str, str]) -> None:
    too_many_ids = ",".join(str(n) for n in range(51))

    response = client.get(
        BOOKINGS, params={"ids": too_many_ids, "pageSize": 0, "modifiedOnOrAfter": "soon"}, headers=headers
    )

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"ids", "pageSize", "modifiedOnOrAfter"}


def test_a_provider_lists_only_its_own_bookings(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    tenant = sandbox.config.tenant(DEMO_TENANT_ID)
    assert tenant is not None
    tenant.booking_providers.append(BookingProvider(id=43, name="other"))
    mine = client.post(BOOKINGS, json=booking_body(), headers=headers).json()
    theirs = client.post(f"{TENANT}/booking-provider/43/bookings", json=booking_body(), headers=headers).json()

    listed = client.get(BOOKINGS, headers=headers).json()["data"]
    everything = client.get(f"{TENANT}/bookings", headers=headers).json()["data"]

    assert [b["id"] for b in listed] == [mine["id"]]
    assert {b["id"] for b in everything} == {mine["id"], theirs["id"]}
    assert client.get(f"{BOOKINGS}/{theirs['id']}", headers=headers).status_code == 404


def test_patch_updates_the_booking_and_its_modified_on(client: httpx.Client, headers: dict[str, str]) -> None:
    created = client.post(BOOKINGS, json=booking_body(), headers=headers).json()

    response = client.patch(
        f"{BOOKINGS}/{created['id']}", json={"summary": "Changed", "customerType": "Commercial"}, headers=headers
    )

    assert response.status_code == 200
    assert response.json()["summary"] == "Changed"
    assert response.json()["customerType"] == "Commercial"
    assert response.json()["modifiedOn"] > created["modifiedOn"]


def test_patch_requires_all_six_address_fields(client: httpx.Client, headers: dict[str, str]) -> None:
    booking_id = client.post(BOOKINGS, json=booking_body(), headers=headers).json()["id"]
    address = {"street": "2 Oak", "city": "Austin", "state": "TX", "zip": "78702", "country": "USA"}

    response = client.patch(f"{BOOKINGS}/{booking_id}", json={"address": address}, headers=headers)

    assert response.json()["errors"] == {"address.unit": ["The unit field is required."]}


def test_contacts_can_be_added_and_listed(client: httpx.Client, headers: dict[str, str]) -> None:
    booking_id = client.post(BOOKINGS, json=booking_body(), headers=headers).json()["id"]

    added = client.post(
        f"{BOOKINGS}/{booking_id}/contacts", json={"type": "mobilephone", "value": "5125550100"}, headers=headers
    )
    listed = client.get(f"{BOOKINGS}/{booking_id}/contacts", headers=headers).json()

    assert added.status_code == 200
    assert added.json()["type"] == "MobilePhone"
    assert added.json()["memo"] == ""
    assert [(c["type"], c["value"]) for c in listed["data"]] == [
        ("Email", "ann@example.com"),
        ("MobilePhone", "5125550100"),
    ]


def test_a_contact_of_an_unknown_type_gets_400(client: httpx.Client, headers: dict[str, str]) -> None:
    booking_id = client.post(BOOKINGS, json=booking_body(), headers=headers).json()["id"]

    response = client.post(f"{BOOKINGS}/{booking_id}/contacts", json={"type": "Pager", "value": "1"}, headers=headers)

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"type"}


def test_booking_provider_tags_are_listed_and_read_by_id(client: httpx.Client, headers: dict[str, str]) -> None:
    listed = client.get(f"{TENANT}/booking-provider-tags", headers=headers).json()
    one = client.get(f"{TENANT}/booking-provider-tags/42", headers=headers)
    missing = client.get(f"{TENANT}/booking-provider-tags/43", headers=headers)

    assert [(t["id"], t["tagName"], t["active"]) for t in listed["data"]] == [(42, "referloop", True)]
    assert one.json()["tagName"] == "referloop"
    assert missing.status_code == 404


def test_unknown_paths_and_methods_answer_in_the_error_shape(client: httpx.Client, headers: dict[str, str]) -> None:
    unknown = client.get(f"{TENANT}/nothing-here", headers=headers)
    wrong_method = client.delete(BOOKINGS, headers=headers)

    assert unknown.status_code == 404
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"] == 405
