"""New integrations map every field the lead form collects (removable on the Leads tab), and the forms a person
fills ask for a whole address or none when the booking would carry it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from referloop.campaigns.models import Lead
from referloop.integrations.models import Integration, LeadAction
from referloop.providers.servicetitan import FieldMapping, default_mapping
from referloop.runtime.demo import create_demo
from tests.conftest import Tenant
from tests.integrations.servicetitan.conftest import connect, mapping_post, url
from tests.public_forms import as_person

pytestmark = pytest.mark.django_db

ADDRESS_KEYS = ("address.street", "address.city", "address.state", "address.zip", "address.country")
ASK_FOR_THE_REST = "Add the city, state and zip, or leave the address empty."


def booking_ready(tenant: Tenant) -> Integration:
    integration = connect(tenant)
    integration.lead_action = LeadAction.CREATE_BOOKING
    integration.save()
    return integration


def test_a_new_integration_starts_with_every_field_the_lead_form_collects_mapped(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant)
    assert integration.mapping() == default_mapping()
    assert integration.mapping()["address.country"] == FieldMapping("fixed", "USA")
    response = tenant.client.get(url("integration_leads", tenant))
    labels = [row.field.label for row in response.context["rows"]]
    assert labels == [
        "Source",
        "Name",
        "Email",
        "Phone",
        "Summary",
        "Is First Time Client",
        "External Id",
        "Street",
        "City",
        "State",
        "Zip",
        "Country",
    ]
    page = response.content.decode()
    for label in ("Phone", "Street", "City", "State", "Zip", "Country"):
        assert f'aria-label="Remove {label}"' in page
    assert 'value="Referral from {Referrer Full Name}: {Lead Notes}"' in page
    assert 'id="fixed-address-country" name="address.country__fixed" value="USA"' in page


def test_the_demo_account_gets_the_complete_mapping() -> None:
    demo = create_demo()
    mapping = demo.campaign.integrations.get().mapping()
    # Every default row, as the defaults have it (the demo may map more, such as its sandbox's job type).
    assert {key: mapping.get(key) for key in default_mapping()} == default_mapping()


def test_an_existing_mapping_is_kept_as_its_owner_saved_it_when_reconnecting(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant)
    minimal = {key: entry for key, entry in default_mapping().items() if key not in ("contacts.Phone", *ADDRESS_KEYS)}
    integration.set_mapping(minimal)
    integration.save()
    connect(tenant)
    integration.refresh_from_db()
    assert integration.mapping() == minimal


def test_removing_the_phone_and_the_whole_address_on_the_leads_tab_saves_the_mapping_without_them(
    tenant: Tenant, sandbox
) -> None:
    integration = connect(tenant)
    removed = {key.replace(".", "__"): None for key in ("contacts.Phone", *ADDRESS_KEYS)}
    response = tenant.client.post(url("integration_leads", tenant), mapping_post(integration, **removed))
    assert response.status_code == 302
    integration.refresh_from_db()
    assert sorted(integration.mapping()) == sorted(
        ["source", "name", "contacts.Email", "summary", "isFirstTimeClient", "externalId"]
    )
    change = integration.changes.order_by("-pk").first()
    assert change is not None
    assert "unmapped Phone" in change.summary and "unmapped Country" in change.summary
    page = tenant.client.get(url("integration_leads", tenant)).content.decode()
    assert 'id="row-contacts-Phone"' not in page and 'id="row-address-street"' not in page
    assert 'data-add-key="contacts.Phone"' in page  # and it can be added back


def test_removing_only_the_street_is_refused_naming_it(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant)
    response = tenant.client.post(url("integration_leads", tenant), mapping_post(integration, address__street=None))
    assert response.status_code == 400
    assert "Street must be mapped too" in response.content.decode()
    integration.refresh_from_db()
    assert integration.mapping() == default_mapping()


FRIEND = {
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane@friends.example",
    "phone": "512-555-0142",
    "street": "12 Elm St",
    "notes": "AC blowing warm air",
    "custom_system_type": "Heat pump",
}


def post_referral(tenant: Tenant, data: dict[str, str]):  # type: ignore[no-untyped-def]
    return tenant.client.post(
        reverse("referral_page", args=[tenant.referrer.code]), as_person(tenant.campaign, "lead", data)
    )


def test_the_referral_form_refuses_a_partial_address_naming_the_parts_and_keeps_what_the_friend_typed(
    tenant: Tenant, sandbox
) -> None:
    booking_ready(tenant)
    response = post_referral(tenant, FRIEND)
    assert response.status_code == 400
    page = response.content.decode()
    assert ASK_FOR_THE_REST in page
    assert response.context["form"].errors == {"city": [ASK_FOR_THE_REST]}
    for typed in ("Jane", "Doe", "jane@friends.example", "512-555-0142", "12 Elm St", "AC blowing warm air"):
        assert typed in page
    assert 'value="Heat pump" selected' in page
    assert not Lead.objects.filter(email="jane@friends.example").exists()


def test_the_referral_form_names_only_the_parts_still_missing(tenant: Tenant, sandbox) -> None:
    booking_ready(tenant)
    response = post_referral(tenant, {**FRIEND, "street": "", "city": "Austin", "state": "TX"})
    assert response.context["form"].errors == {"street": ["Add the street and zip, or leave the address empty."]}


@pytest.mark.parametrize(
    "address",
    [
        {"street": "12 Elm St", "city": "Austin", "state": "TX", "zip_code": "78701"},
        {"street": "", "city": "", "state": "", "zip_code": ""},
    ],
)
def test_the_referral_form_takes_a_whole_address_or_none(tenant: Tenant, sandbox, address) -> None:
    booking_ready(tenant)
    assert post_referral(tenant, {**FRIEND, **address}).status_code == 200
    assert Lead.objects.filter(email="jane@friends.example").exists()


def test_the_referral_form_takes_a_partial_address_when_no_booking_is_made(tenant: Tenant, sandbox) -> None:
    connect(tenant)  # "Nothing to action": no booking would carry the address
    assert post_referral(tenant, FRIEND).status_code == 200
    assert Lead.objects.get(email="jane@friends.example").street == "12 Elm St"


def test_the_referral_form_takes_a_partial_address_when_the_mapping_sends_none(tenant: Tenant, sandbox) -> None:
    integration = booking_ready(tenant)
    integration.set_mapping({k: v for k, v in default_mapping().items() if k not in ADDRESS_KEYS})
    integration.save()
    assert post_referral(tenant, FRIEND).status_code == 200


def test_adding_a_lead_by_hand_refuses_a_partial_address_too(tenant: Tenant, sandbox) -> None:
    booking_ready(tenant)
    response = tenant.client.post(
        reverse("lead_add", args=[tenant.campaign.pk]), {**FRIEND, "referrer": tenant.referrer.pk}
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"city": [ASK_FOR_THE_REST]}
    assert "12 Elm St" in response.content.decode()
    assert not Lead.objects.filter(email="jane@friends.example").exists()
