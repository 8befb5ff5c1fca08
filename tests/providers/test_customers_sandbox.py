"""The customer and pick-list calls of the ServiceTitan client, over real HTTP against the sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from referloop.providers.servicetitan import (
    AsyncServiceTitanClient,
    PermanentError,
    ServiceTitanClient,
    TokenCache,
    TransientError,
)
from referloop.providers.servicetitan.customers import list_contacts_of_customers
from referloop.sandbox.config import SandboxConfig
from referloop.sandbox.demo_data import SHARED_PHONE
from referloop.sandbox.testing import SandboxHandle, running_sandbox
from tests.providers.test_client_sandbox import demo_credentials


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig.demo(seed=7, export_page_size=8)) as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[ServiceTitanClient]:
    with ServiceTitanClient(demo_credentials(sandbox), token_cache=TokenCache()) as st_client:
        yield st_client


def test_the_customer_export_is_read_page_by_page_and_resumed_from_a_stored_token(sandbox, client):
    first = client.export_customers()
    second = client.export_customers(first.continue_from)
    rest = []
    token = second.continue_from
    while True:
        page = client.export_customers(token)
        rest += page.items
        token = page.continue_from
        if not page.has_more:
            break

    ids = [c.id for c in first.items + second.items + rest]
    assert (len(first.items), first.has_more) == (8, True)
    assert sorted(ids) == [c.id for c in sandbox.customers()]
    assert client.export_customers(token).items == []
    changed = sandbox.change_customer(sandbox.customers()[3].id, name="Renamed Customer")
    [again] = client.export_customers(token).items
    assert (again.id, again.name) == (changed.id, "Renamed Customer")
    assert client.export_customers(token, include_recent_changes=False).items == []


def test_the_contacts_export_gives_emails_with_their_customer_ids(sandbox, client):
    page = client.export_customer_contacts("2020-01-01")
    emails = {c.value: c.customer_id for c in page.items if c.is_email}
    customer = next(c for c in sandbox.customers() if c.emails() and c.id in emails.values())

    assert emails[customer.emails()[0]] == customer.id
    assert all(c.active for c in page.items)


def test_a_customer_is_read_and_its_custom_fields_written(sandbox, client):
    customer = sandbox.customers()[0]
    link, code = sandbox.custom_field_type("Referral Link"), sandbox.custom_field_type("Referral Code")

    updated = client.update_customer_custom_fields(customer.id, {link.id: "https://r.example/o", code.id: "OLIVIA"})

    assert updated.custom_field(link.id) == "https://r.example/o"
    assert client.get_customer(customer.id) == updated
    assert sandbox.customer_custom_fields(customer.id) == {
        "Referral Link": "https://r.example/o",
        "Referral Code": "OLIVIA",
    }
    assert (updated.name, updated.active, updated.address and updated.address.city) == (
        customer.name,
        True,
        "Springfield",
    )


def test_writing_an_unknown_custom_field_or_reading_an_unknown_customer_is_permanent(sandbox, client):
    customer = sandbox.customers()[0]
    with pytest.raises(PermanentError):
        client.update_customer_custom_fields(customer.id, {1: "x"})
    with pytest.raises(PermanentError):
        client.get_customer(1)


def test_a_phone_lookup_is_one_call_and_finds_every_customer_sharing_the_number(sandbox, client):
    customers = sandbox.customers()
    client.fetch_token()
    mark = sandbox.mark()

    found = client.find_customers_by_phone("217.555.0142")

    assert [c.id for c in found] == [customers[2].id, customers[3].id]
    assert [c.operation for c in sandbox.calls(since=mark)] == ["Customers_GetList"]
    assert SHARED_PHONE in customers[2].phones()
    assert client.find_customers_by_phone("(999) 000-0000") == []


def test_contacts_are_listed_for_one_customer_and_for_a_batch(sandbox, client):
    first, second = sandbox.customers()[:2]

    own = client.list_customer_contacts(first.id)
    batch = client.list_contacts_of_customers([first.id, second.id])

    assert [(c.customer_id, c.value) for c in own] == [(first.id, c.value) for c in first.contacts]
    assert {c.customer_id for c in batch.items} == {first.id, second.id}
    assert not batch.has_more
    with pytest.raises(ValueError):
        list_contacts_of_customers(demo_credentials(sandbox), list(range(51)))


def test_custom_field_types_and_pick_lists_are_read_whole_and_active_only(sandbox, client):
    sandbox.deactivate_pick_list_item("job_type", 2)
    for n in range(300):  # more than one page of campaigns
        sandbox.add_pick_list_item("campaign", 1000 + n, f"Campaign {n}")

    fields = client.list_custom_field_types()
    job_types = client.list_job_types()
    campaigns = client.list_campaigns()

    assert [f.name for f in fields][:3] == ["Referral Link", "Referral Code", "Referral Count"]
    assert next(f for f in fields if f.name == "Preferred Technician").options == ("Any", "Sam", "Alex")
    assert [j.id for j in job_types] == [1, 3, 4]
    assert [b.name for b in client.list_business_units()] == ["HVAC Service", "Plumbing Service", "Electrical"]
    assert len(campaigns) == 303 and all(c.active for c in campaigns)


def test_a_removed_pick_list_item_is_no_longer_listed(sandbox, client):
    sandbox.remove_pick_list_item("business_unit", 2)
    assert 2 not in [b.id for b in client.list_business_units()]


def test_a_failing_sandbox_is_a_transient_error_for_the_new_calls(sandbox, client):
    client.fetch_token()
    sandbox.set(error_rate=1.0)
    with pytest.raises(TransientError):
        client.export_customers()
    with pytest.raises(TransientError):
        client.list_job_types()


def test_the_async_client_makes_the_same_calls(sandbox):
    customer = sandbox.customers()[2]
    code = sandbox.custom_field_type("Referral Code")

    async def run() -> tuple[int, list[int], int, str | None, int]:
        async with AsyncServiceTitanClient(demo_credentials(sandbox), token_cache=TokenCache()) as st_client:
            page = await st_client.export_customers()
            found = await st_client.find_customers_by_phone(SHARED_PHONE)
            campaigns = await st_client.list_campaigns()
            updated = await st_client.update_customer_custom_fields(customer.id, {code.id: "C2"})
            contacts = await st_client.list_contacts_of_customers([customer.id])
            await st_client.get_customer(customer.id)
            await st_client.list_custom_field_types()
            await st_client.list_job_types()
            await st_client.list_business_units()
            await st_client.export_customer_contacts()
            await st_client.list_customer_contacts(customer.id)
            return (
                len(page.items),
                [c.id for c in found],
                len(campaigns),
                updated.custom_field(code.id),
                len(contacts.items),
            )

    assert asyncio.run(run()) == (8, [customer.id, sandbox.customers()[3].id], 3, "C2", len(customer.contacts))
