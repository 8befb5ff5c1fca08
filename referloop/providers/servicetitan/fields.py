"""The field catalog: every field of ServiceTitan's `Crm.V2.CreateBookingRequest`, as the screens show it.

A target field is what a business maps its lead data onto. Keys are stable (they are stored in the
integration's field mapping): top-level body properties keep their API name, contact entries are
`contacts.<ContactType>` and address parts are `address.<part>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldType = Literal["text", "boolean", "integer", "enum", "datetime", "string-list"]

YES_NO = ("Yes", "No")
CUSTOMER_TYPES = ("Residential", "Commercial")
PRIORITIES = ("Low", "Normal", "High", "Urgent")

CONTACT_PREFIX = "contacts."
ADDRESS_PREFIX = "address."


@dataclass(frozen=True)
class TargetField:
    key: str
    label: str
    type: FieldType
    allowed_values: tuple[str, ...] = ()
    required: bool = False  # required by referloop (a superset of what ServiceTitan requires)
    help_text: str = ""
    # "job_type", "business_unit" or "campaign": an id the Manual Select offers from the tenant's list.
    pick_list: str = ""

    @property
    def contact_type(self) -> str | None:
        """The ContactType of a `contacts.*` field, else None."""
        return self.key.removeprefix(CONTACT_PREFIX) if self.key.startswith(CONTACT_PREFIX) else None

    @property
    def address_part(self) -> str | None:
        """The AddressModel property of an `address.*` field, else None."""
        return self.key.removeprefix(ADDRESS_PREFIX) if self.key.startswith(ADDRESS_PREFIX) else None


TARGET_FIELDS: tuple[TargetField, ...] = (
    TargetField(
        "source",
        "Source",
        "text",
        required=True,
        help_text="Where the booking came from, shown to the CSR (for example the campaign name).",
    ),
    TargetField("name", "Name", "text", required=True, help_text="The customer's name."),
    TargetField(
        "contacts.Email",
        "Email",
        "text",
        required=True,
        help_text="Sent as an Email contact; ServiceTitan needs an email, a phone or an address.",
    ),
    TargetField("contacts.Phone", "Phone", "text", help_text="Sent as a Phone contact."),
    TargetField("contacts.MobilePhone", "Mobile Phone", "text", help_text="Sent as a MobilePhone contact."),
    TargetField("contacts.Fax", "Fax", "text", help_text="Sent as a Fax contact."),
    TargetField(
        "summary",
        "Summary",
        "text",
        required=True,
        help_text="What the CSR reads on the Calls → Bookings screen.",
    ),
    TargetField(
        "isFirstTimeClient",
        "Is First Time Client",
        "boolean",
        YES_NO,
        required=True,
        help_text="Yes if this customer has never booked with the business. From ServiceTitan: No when the "
        "lead's email or phone belongs to one of your ServiceTitan customers, looked up before the booking is sent.",
    ),
    TargetField(
        "externalId",
        "External Id",
        "text",
        required=True,
        help_text="referloop's id for the lead; used to find the booking again, so it must be unique.",
    ),
    TargetField("address.street", "Street", "text", help_text="Street and number."),
    TargetField("address.unit", "Unit", "text", help_text="Apartment or suite; optional."),
    TargetField("address.city", "City", "text"),
    TargetField("address.state", "State", "text"),
    TargetField("address.zip", "Zip", "text"),
    TargetField(
        "address.country",
        "Country",
        "text",
        help_text="ServiceTitan needs a country with any address; map a Fixed Value such as USA.",
    ),
    TargetField("customerType", "Customer Type", "enum", CUSTOMER_TYPES),
    TargetField(
        "start",
        "Start",
        "datetime",
        help_text="Requested start; sent in UTC. A date without a time is sent as 12:00 UTC, "
        "which is the same calendar day in every US time zone.",
    ),
    TargetField(
        "campaignId",
        "Campaign Id",
        "integer",
        help_text="A ServiceTitan marketing campaign: choose it, or type its id as a Fixed Value.",
        pick_list="campaign",
    ),
    TargetField(
        "businessUnitId",
        "Business Unit Id",
        "integer",
        help_text="A ServiceTitan business unit; must match the job type if the tenant maps them.",
        pick_list="business_unit",
    ),
    TargetField(
        "jobTypeId",
        "Job Type Id",
        "integer",
        help_text="A ServiceTitan job type: choose it, or type its id as a Fixed Value.",
        pick_list="job_type",
    ),
    TargetField("priority", "Priority", "enum", PRIORITIES),
    TargetField(
        "isSendConfirmationEmail",
        "Send Confirmation Email",
        "boolean",
        YES_NO,
        help_text="Yes to have ServiceTitan email the customer when the booking is created.",
    ),
    TargetField(
        "uploadedImages",
        "Uploaded Images",
        "string-list",
        help_text="Image links, separated by commas or new lines.",
    ),
)

FIELDS_BY_KEY: dict[str, TargetField] = {field.key: field for field in TARGET_FIELDS}
ADDRESS_FIELDS: tuple[TargetField, ...] = tuple(f for f in TARGET_FIELDS if f.address_part)
CONTACT_FIELDS: tuple[TargetField, ...] = tuple(f for f in TARGET_FIELDS if f.contact_type)
