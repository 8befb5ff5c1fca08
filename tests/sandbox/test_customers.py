"""Customers, their contacts and custom fields, the customer export feeds and the pick lists, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from referloop.sandbox import DEMO_TENANT_ID
from referloop.sandbox.demo_data import MEMBER_TAG_ID, SHARED_PHONE, VIP_TAG_ID
from referloop.sandbox.testing import SandboxHandle

CRM = f"/crm/v2/tenant/{DEMO_TENANT_ID}"
CUSTOMERS = f"{CRM}/customers"
EXPORT = f"{CRM}/export/customers"
JOB_TYPES = f"/jpm/v2/tenant/{DEMO_TENANT_ID}/job-types"
BUSINESS_UNITS = f"/settings/v2/tenant/{DEMO_TENANT_ID}/business-units"
CAMPAIGNS = f"/marketing/v2/tenant/{DEMO_TENANT_ID}/campaigns"
TAG_TYPES = f"/settings/v2/tenant/{DEMO_TENANT_ID}/tag-types"


def get(client: httpx.Client, headers: dict[str, str], path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def export_all(
    client: httpx.Client, headers: dict[str, str], start: str | None = None, **params: Any
) -> tuple[list[int], str]:
    """Every id the export hands out from `start` until hasMore is false, and the last token."""
    ids: list[int] = []
    token = start
    while True:
        page = get(client, headers, EXPORT, **({"from": token} if token else {}), **params)
        ids += [c["id"] for c in page["data"]]
        token = page["continueFrom"]
        if not page["hasMore"]:
            return ids, token


# -- seeded data ---------------------------------------------------------------------------------------------


def test_the_demo_tenant_is_seeded_with_thirty_customers_of_every_kind_the_sync_meets(sandbox: SandboxHandle) -> None:
    customers = sandbox.customers()

    assert len(customers) == 30
    assert sum(1 for c in customers if not c.emails()) == 6
    assert [c.name for c in customers if SHARED_PHONE in c.phones()] == [customers[2].name, customers[3].name]
    assert [c.active for c in customers].count(False) == 1
    assert sum(1 for c in customers if VIP_TAG_ID in c.tag_type_ids) == 5
    assert [t.name for t in sandbox.custom_field_types()][:3] == ["Referral Link", "Referral Code", "Referral Count"]


def test_the_pick_lists_hold_the_ids_the_sandbox_books_jobs_with_and_some_inactive_items(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    for path in (JOB_TYPES, BUSINESS_UNITS, CAMPAIGNS):
        active = get(client, headers, path)["data"]
        everything = get(client, headers, path, active="Any")["data"]
        retired = get(client, headers, path, active="False")["data"]
        assert 1 in [item["id"] for item in active]
        assert all(item["active"] for item in active)
        assert retired and not any(item["active"] for item in retired)
        assert len(everything) == len(active) + len(retired)


def test_pick_lists_page_and_filter_by_ids_and_name(client: httpx.Client, headers: dict[str, str]) -> None:
    first = get(client, headers, JOB_TYPES, pageSize=2, includeTotal="true")
    assert (len(first["data"]), first["hasMore"], first["totalCount"]) == (2, True, 4)
    assert [j["id"] for j in get(client, headers, JOB_TYPES, ids="2,3")["data"]] == [2, 3]
    assert [c["name"] for c in get(client, headers, CAMPAIGNS, name="referral")["data"]] == ["Referral Program"]
    assert client.get(CAMPAIGNS, params={"active": "maybe"}, headers=headers).status_code == 400


# -- customers -----------------------------------------------------------------------------------------------


def test_customers_list_only_active_ones_unless_asked_and_filter_by_phone_name_and_ids(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    customers = sandbox.customers()

    assert get(client, headers, CUSTOMERS, includeTotal="true")["totalCount"] == 29
    assert get(client, headers, CUSTOMERS, active="Any", includeTotal="true")["totalCount"] == 30
    by_phone = get(client, headers, CUSTOMERS, phone="+1 217-555-0142")["data"]
    assert [c["id"] for c in by_phone] == [customers[2].id, customers[3].id]
    assert [c["id"] for c in get(client, headers, CUSTOMERS, name=customers[5].name.upper())["data"]][:1] == [
        customers[5].id
    ]
    assert [c["id"] for c in get(client, headers, CUSTOMERS, ids=f"{customers[0].id},{customers[1].id}")["data"]] == [
        customers[0].id,
        customers[1].id,
    ]
    created = get(client, headers, CUSTOMERS, createdOnOrAfter="2024-12-01T00:00:00Z", active="Any")["data"]
    assert created and all(c["createdOn"] >= "2024-12-01" for c in created)


def test_a_customer_is_read_and_an_unknown_one_is_a_404(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    customer = sandbox.customers()[0]

    assert get(client, headers, f"{CUSTOMERS}/{customer.id}")["name"] == customer.name
    assert client.get(f"{CUSTOMERS}/1", headers=headers).status_code == 404


def test_patching_custom_fields_writes_them_and_answers_the_updated_customer(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    customer = sandbox.customers()[0]
    link, count = sandbox.custom_field_type("Referral Link"), sandbox.custom_field_type("Referral Count")
    before = customer.modified_on

    response = client.patch(
        f"{CUSTOMERS}/{customer.id}",
        json={
            "customFields": [{"typeId": link.id, "value": "https://r.example/x"}, {"typeId": count.id, "value": "3"}]
        },
        headers=headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["customFields"] == [
        {"typeId": link.id, "name": "Referral Link", "value": "https://r.example/x"},
        {"typeId": count.id, "name": "Referral Count", "value": "3"},
    ]
    assert sandbox.customer_custom_fields(customer.id) == {
        "Referral Link": "https://r.example/x",
        "Referral Count": "3",
    }
    assert customer.modified_on > before


def test_patching_an_unknown_custom_field_or_a_bad_body_is_a_400_that_changes_nothing(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    customer = sandbox.customers()[0]
    count = sandbox.custom_field_type("Referral Count")
    path = f"{CUSTOMERS}/{customer.id}"

    unknown = client.patch(path, json={"customFields": [{"typeId": 7, "value": "x"}]}, headers=headers)
    not_a_number = client.patch(path, json={"customFields": [{"typeId": count.id, "value": "many"}]}, headers=headers)
    no_value = client.patch(path, json={"customFields": [{"typeId": count.id}]}, headers=headers)

    assert unknown.status_code == 400 and list(unknown.json()["errors"]) == ["customFields[0].typeId"]
    assert not_a_number.status_code == 400
    assert no_value.status_code == 400 and "customFields[0].value" in no_value.json()["errors"]
    assert sandbox.customer_custom_fields(customer.id) == {}


def test_contacts_are_listed_per_customer_and_tenant_wide_by_customer_ids(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    first, second = sandbox.customers()[:2]

    own = get(client, headers, f"{CUSTOMERS}/{first.id}/contacts")["data"]
    both = get(client, headers, f"{CUSTOMERS}/contacts", customerIds=f"{first.id},{second.id}")["data"]
    recent = get(client, headers, f"{CUSTOMERS}/contacts", modifiedOnOrAfter="2024-12-01T00:00:00Z")["data"]

    assert [c["value"] for c in own] == [c.value for c in first.contacts]
    assert {c["customerId"] for c in both} == {first.id, second.id}
    assert recent and all(c["modifiedOn"] >= "2024-12-01" for c in recent)
    refused = client.get(f"{CUSTOMERS}/contacts", headers=headers)
    assert refused.status_code == 400 and "customerIds" in refused.json()["errors"]


# -- the export ----------------------------------------------------------------------------------------------


def test_the_export_hands_out_every_customer_once_in_pages_of_the_configured_size(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.set(export_page_size=7)

    first = get(client, headers, EXPORT)
    ids, _ = export_all(client, headers)

    assert (len(first["data"]), first["hasMore"]) == (7, True)
    assert sorted(ids) == [c.id for c in sandbox.customers()]  # the inactive one included
    assert len(ids) == len(set(ids))


def test_resuming_from_a_stored_token_continues_after_the_last_finished_page(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.set(export_page_size=10)
    page_one = get(client, headers, EXPORT)
    page_two = get(client, headers, EXPORT, **{"from": page_one["continueFrom"]})

    # A restart: only page one's token was stored, so page two comes again, and nothing of page one does.
    resumed, _ = export_all(client, headers, page_one["continueFrom"])

    assert resumed[:10] == [c["id"] for c in page_two["data"]]
    assert not set(resumed) & {c["id"] for c in page_one["data"]}
    assert len(resumed) == 20


def test_a_changed_customer_comes_round_again_after_the_end_with_recent_changes(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    _, caught_up = export_all(client, headers, includeRecentChanges="true")
    changed = sandbox.customers()[4]
    sandbox.change_customer(changed.id, add_emails=["new@example.com"])
    added = sandbox.add_customer("Nina New", emails=["nina@example.com"], phones=["217 555 0999"], tag_type_ids=[501])

    again, _ = export_all(client, headers, caught_up, includeRecentChanges="true")
    held_back, _ = export_all(client, headers, caught_up)

    assert again == [changed.id, added.id]
    assert held_back == []  # without includeRecentChanges, a change waits out the 15-minute lag
    sandbox.set(export_lag_seconds=0)
    assert export_all(client, headers, caught_up)[0] == [changed.id, added.id]


def test_the_export_starts_from_a_date_and_refuses_a_token_it_never_issued(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    since = get(client, headers, EXPORT, **{"from": "2024-12-01"})["data"]

    assert since and all(c["modifiedOn"] >= "2024-12-01" for c in since)
    assert len(since) < len(sandbox.customers())
    refused = client.get(EXPORT, params={"from": "not a token"}, headers=headers)
    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["from"]


def test_the_contacts_export_carries_customer_ids_and_follows_changes(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    path = f"{CRM}/export/customers/contacts"
    first = get(client, headers, path)
    customer = sandbox.customers()[0]
    sandbox.change_customer(customer.id, add_emails=["second@example.com"])

    later = get(client, headers, path, **{"from": first["continueFrom"], "includeRecentChanges": "true"})

    assert first["data"] and all("customerId" in c and c["active"] for c in first["data"])
    assert [(c["customerId"], c["value"]) for c in later["data"]] == [(customer.id, "second@example.com")]


def test_twenty_thousand_customers_are_seeded_the_same_for_the_same_seed(sandbox: SandboxHandle) -> None:
    made = sandbox.seed_customers(20_000, seed=1)
    names = [(c.name, c.emails(), c.phones()) for c in made[:50]]
    sandbox.reset()
    again = sandbox.seed_customers(20_000, seed=1)

    assert len(made) == 20_000
    assert [(c.name, c.emails(), c.phones()) for c in again[:50]] == names
    assert 0.85 < sum(1 for c in made if c.emails()) / len(made) < 0.95


# -- control endpoints and the request log ----------------------------------------------------------------


def test_control_endpoints_add_change_and_read_customers(sandbox: SandboxHandle, client: httpx.Client) -> None:
    added = client.post(
        "/_sandbox/customers",
        json={
            "name": "Cara Control",
            "contacts": [{"type": "Email", "value": "cara@example.com"}],
            "tag_type_ids": [501],
        },
    )
    customer_id = added.json()["customer"]["id"]
    code = sandbox.custom_field_type("Referral Code")
    changed = client.post(
        f"/_sandbox/customers/{customer_id}/change", json={"name": "Cara C.", "custom_fields": {str(code.id): "CARA1"}}
    )
    fields = client.get(f"/_sandbox/customers/{customer_id}/custom-fields")
    listed = client.get("/_sandbox/customers")
    seeded = client.post("/_sandbox/customers/seed", json={"count": 25, "seed": 3})

    assert added.status_code == 200 and added.json()["customer"]["tagTypeIds"] == [501]
    assert added.json()["contacts"][0]["value"] == "cara@example.com"
    assert changed.json()["customer"]["name"] == "Cara C."
    assert fields.json()["customFields"] == [{"typeId": code.id, "name": "Referral Code", "value": "CARA1"}]
    assert len(listed.json()["customers"]) == 31
    assert seeded.json()["created"] == 25 and len(sandbox.customers()) == 56
    assert client.post("/_sandbox/customers", json={"name": "X", "colour": "red"}).status_code == 400
    assert (
        client.post(f"/_sandbox/customers/{customer_id}/change", json={"custom_fields": {"7": "x"}}).status_code == 400
    )
    assert client.post("/_sandbox/customers/1/change", json={}).status_code == 404


def test_control_endpoints_retire_and_remove_pick_list_items(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    retired = client.patch("/_sandbox/pick-lists/job-types/2", json={"active": False})
    removed = client.delete("/_sandbox/pick-lists/campaigns/3")

    assert retired.json() == {"id": 2, "name": "AC Repair", "active": False}
    assert 2 not in [j["id"] for j in get(client, headers, JOB_TYPES)["data"]]
    assert 2 in [j["id"] for j in get(client, headers, JOB_TYPES, active="Any")["data"]]
    assert removed.json() == {"removed": 3}
    assert 3 not in [c["id"] for c in get(client, headers, CAMPAIGNS, active="Any")["data"]]
    assert client.delete("/_sandbox/pick-lists/campaigns/3").status_code == 404
    assert client.get("/_sandbox/pick-lists/colours").status_code == 404
    sandbox.remove_pick_list_item("business_unit", 1)
    assert 1 not in [b.id for b in sandbox.pick_list("business_unit")]


def test_the_request_log_names_the_new_operations(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    customer = sandbox.customers()[0]
    mark = sandbox.mark()
    reads = [CUSTOMERS, f"{CUSTOMERS}/{customer.id}", f"{CUSTOMERS}/{customer.id}/contacts", EXPORT]
    reads += [f"{CRM}/export/customers/contacts", f"{CUSTOMERS}/custom-fields", JOB_TYPES, BUSINESS_UNITS, CAMPAIGNS]
    for path in reads:
        client.get(path, headers=headers)
    client.get(f"{CUSTOMERS}/contacts", params={"customerIds": customer.id}, headers=headers)
    client.patch(f"{CUSTOMERS}/{customer.id}", json={"doNotMail": True}, headers=headers)

    assert [c.operation for c in sandbox.calls(since=mark)] == [
        "Customers_GetList",
        "Customers_Get",
        "Customers_GetContactList",
        "ExportCustomers_GetCustomers",
        "ExportContacts_CustomersContacts",
        "Customers_GetCustomFieldTypes",
        "JobTypes_GetList",
        "BusinessUnits_GetList",
        "Campaigns_GetList",
        "Customers_GetModifiedContactsList",
        "Customers_Update",
    ]
    assert sandbox.calls(since=mark, operation="Customers_GetModifiedContactsList")[0].params == {
        "customerIds": str(customer.id)
    }


def test_the_new_operations_need_a_token_and_count_against_the_rate_limit(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    assert client.get(CUSTOMERS).status_code == 401
    assert client.get(JOB_TYPES, headers={**headers, "Authorization": "Bearer nope"}).status_code == 401
    sandbox.set(rate_limit_per_second=2)
    statuses = [client.get(CAMPAIGNS, headers=headers).status_code for _ in range(3)]
    assert statuses[-1] == 429


def test_tag_types_are_seeded_with_every_tag_the_seeded_customers_carry_and_listed_active_only(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    active = get(client, headers, TAG_TYPES)
    everything = get(client, headers, TAG_TYPES, active="Any", includeTotal="true")
    carried = {tag for customer in sandbox.customers() for tag in customer.tag_type_ids}

    assert [(t["id"], t["name"], t["active"]) for t in active["data"]] == [
        (VIP_TAG_ID, "VIP", True),
        (MEMBER_TAG_ID, "Maintenance Member", True),
    ]
    assert carried == {VIP_TAG_ID, MEMBER_TAG_ID} <= {t["id"] for t in active["data"]}
    assert everything["totalCount"] == 3 and everything["data"][2]["active"] is False
    assert [t["id"] for t in get(client, headers, TAG_TYPES, active="False")["data"]] == [503]
    assert get(client, headers, TAG_TYPES, pageSize=1, page=2)["data"][0]["id"] == MEMBER_TAG_ID


def test_control_endpoints_retire_and_remove_tag_types(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    retired = client.patch(f"/_sandbox/pick-lists/tag-types/{MEMBER_TAG_ID}", json={"active": False})
    removed = client.delete(f"/_sandbox/pick-lists/tag-types/{VIP_TAG_ID}")

    assert retired.json() == {"id": MEMBER_TAG_ID, "name": "Maintenance Member", "active": False}
    assert removed.json() == {"removed": VIP_TAG_ID}
    assert get(client, headers, TAG_TYPES)["data"] == []
    assert [t["id"] for t in client.get("/_sandbox/pick-lists/tag-types").json()["items"]] == [MEMBER_TAG_ID, 503]
    bad = client.get(TAG_TYPES, params={"active": "Sometimes", "pageSize": 0}, headers=headers)
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"active", "pageSize"}
