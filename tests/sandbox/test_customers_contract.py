"""The customer, export and pick-list operations against ServiceTitan's published documents."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
from jsonschema import Draft7Validator
from starlette.datastructures import QueryParams

from referloop.providers.servicetitan import ServiceTitanClient, TokenCache
from referloop.providers.servicetitan.catalog import list_pick_list
from referloop.sandbox import DEMO_TENANT_ID, SandboxConfig
from referloop.sandbox.query import Query
from referloop.sandbox.schemas import REQUEST_SCHEMAS
from referloop.sandbox.testing import SandboxHandle, running_sandbox
from tests.providers.test_client_sandbox import demo_credentials
from tests.sandbox.test_contract import _shape
from tests.servicetitan_contract import load_spec, official_schema, official_validator
from tests.st_openapi import needs_st_openapi

pytestmark = needs_st_openapi
CRM = f"/crm/v2/tenant/{DEMO_TENANT_ID}"
TAG_TYPES = "PaginatedResponse_Of_TenantSettings.V2.TagTypeResponse"


@pytest.fixture(scope="module")
def unlimited() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig.demo(rate_limit_per_second=None, export_lag_seconds=0)) as handle:
        yield handle


@pytest.fixture(scope="module")
def app_client(unlimited: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=unlimited.base_url, headers=unlimited.auth_headers(), timeout=5.0) as client:
        yield client


def _operation(operation: str) -> tuple[str, str, dict[str, Any]]:
    """(method, full path template, operation object) of an operation id in the official documents."""
    for document in ("crm-v2", "jpm-v2", "settings-v2", "marketing-v2"):
        spec = load_spec(document)
        base = urlsplit(spec["servers"][0]["url"]).path
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if isinstance(op, dict) and op.get("operationId") == operation:
                    return method.upper(), base + path, op
    raise AssertionError(f"{operation} is not an operation of the official documents")


def _reads(unlimited: SandboxHandle) -> list[tuple[str, dict[str, Any], str, str]]:
    """(path, params, document, schema) of every new read, with every filter the sandbox implements."""
    customer = unlimited.customers()[0]
    window = {"modifiedOnOrAfter": "2000-01-01T00:00:00Z", "modifiedBefore": "2100-01-01T00:00:00Z"}
    created = {"createdOnOrAfter": "2000-01-01T00:00:00Z", "createdBefore": "2100-01-01T00:00:00Z"}
    paging = {"page": 1, "pageSize": 5, "includeTotal": "true"}
    customers = "PaginatedResponse_Of_Crm.V2.Customers.CustomerResponse"
    reads = [
        (f"{CRM}/customers", params, "crm-v2", customers)
        for params in (
            paging,
            {**window, **created, "active": "Any"},
            {"ids": str(customer.id), "name": customer.name},
            {"phone": customer.phones()[0]},
        )
    ]
    reads += [
        (f"{CRM}/customers/{customer.id}", {}, "crm-v2", "Crm.V2.Customers.CustomerResponse"),
        (
            f"{CRM}/customers/{customer.id}/contacts",
            paging,
            "crm-v2",
            "PaginatedResponse_Of_Crm.V2.Customers.CustomerContactWithModifiedOnResponse",
        ),
        (
            f"{CRM}/customers/contacts",
            {"customerIds": str(customer.id), **window, **created, **paging},
            "crm-v2",
            "PaginatedResponse_Of_Crm.V2.Customers.CustomerContactWithModifiedOnAndCustomerIdResponse",
        ),
        (
            f"{CRM}/customers/custom-fields",
            {**window, **created, **paging},
            "crm-v2",
            "PaginatedResponse_Of_Crm.V2.Customers.CustomFieldTypeResponse",
        ),
        (
            f"{CRM}/export/customers",
            {"includeRecentChanges": "true"},
            "crm-v2",
            "ExportResponse_Of_Crm.V2.ExportCustomerResponse",
        ),
        (
            f"{CRM}/export/customers/contacts",
            {"from": "2020-01-01"},
            "crm-v2",
            "ExportResponse_Of_Crm.V2.ExportCustomerContactResponse",
        ),
    ]
    lists = {
        f"/jpm/v2/tenant/{DEMO_TENANT_ID}/job-types": ("jpm-v2", "PaginatedResponse_Of_Jpm.V2.JobTypeResponse"),
        f"/settings/v2/tenant/{DEMO_TENANT_ID}/business-units": (
            "settings-v2",
            "PaginatedResponse_Of_TenantSettings.V2.BusinessUnitResponse",
        ),
        f"/marketing/v2/tenant/{DEMO_TENANT_ID}/campaigns": (
            "marketing-v2",
            "PaginatedResponse_Of_Marketing.V2.CampaignResponse",
        ),
    }
    reads += [
        (path, params, document, schema)
        for path, (document, schema) in lists.items()
        for params in ({**paging, "active": "Any", "ids": "1,2,3,4,5"}, {**window, **created, "name": "e"})
    ]
    # TagTypes_GetList declares no ids and no name filter.
    reads += [
        (f"/settings/v2/tenant/{DEMO_TENANT_ID}/tag-types", params, "settings-v2", TAG_TYPES)
        for params in ({**paging, "active": "Any"}, {**window, **created, "active": "True"})
    ]
    return reads


def test_the_update_customer_schema_matches_the_official_document() -> None:
    assert _shape(REQUEST_SCHEMAS["UpdateCustomerRequest"]) == _shape(
        official_schema("crm-v2", "Crm.V2.Customers.UpdateCustomerRequest")
    )


def test_every_new_read_and_patch_answers_in_the_official_shape(
    app_client: httpx.Client, unlimited: SandboxHandle
) -> None:
    customer = unlimited.customers()[0]
    link = unlimited.custom_field_type("Referral Link")
    unlimited.change_customer(customer.id, custom_fields={link.id: "https://r.example/a"}, add_emails=["b@example.com"])

    for path, params, document, schema in _reads(unlimited):
        response = app_client.get(path, params=params)
        assert response.status_code == 200, (path, params, response.json())
        official_validator(document, schema).validate(response.json())
        assert response.json().get("data", [customer]), (path, params)  # every list read finds something
    patched = app_client.patch(
        f"{CRM}/customers/{customer.id}",
        json={"customFields": [{"typeId": link.id, "value": "x"}], "tagTypeIds": [501], "doNotMail": True},
    )
    official_validator("crm-v2", "Crm.V2.Customers.CustomerResponse").validate(patched.json())
    for refused in (
        app_client.patch(f"{CRM}/customers/{customer.id}", json={"customFields": [{"typeId": 1, "value": "x"}]}),
        app_client.get(f"{CRM}/export/customers", params={"from": "?"}),
        app_client.get(f"{CRM}/customers/contacts"),
        app_client.get(f"{CRM}/customers/1"),
    ):
        assert refused.status_code in (400, 404)
        official_validator("crm-v2", "ApiErrorResponse").validate(refused.json())


def test_the_new_operations_read_only_declared_parameters_at_their_documented_paths(
    app_client: httpx.Client, unlimited: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    original = Query.__init__

    class Recording:
        def __init__(self, params: QueryParams) -> None:
            self._params = params

        def get(self, name: str, default: str | None = None) -> str | None:
            asked.append(name)
            return self._params.get(name, default)

    def recording_init(self: Query, params: QueryParams) -> None:
        original(self, cast(QueryParams, Recording(params)))

    monkeypatch.setattr(Query, "__init__", recording_init)
    checked = set()
    for path, params, *_ in _reads(unlimited):
        asked.clear()
        mark = unlimited.mark()
        assert app_client.get(path, params=params).status_code == 200, path
        (call,) = unlimited.calls(since=mark)
        method, template, op = _operation(call.operation)
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        assert set(asked) <= declared, (call.operation, set(asked) - declared)
        assert method == call.method
        assert re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), call.path), (call.operation, call.path)
        checked.add(call.operation)
    assert checked == {
        "Customers_GetList",
        "Customers_Get",
        "Customers_GetContactList",
        "Customers_GetModifiedContactsList",
        "Customers_GetCustomFieldTypes",
        "ExportCustomers_GetCustomers",
        "ExportContacts_CustomersContacts",
        "JobTypes_GetList",
        "BusinessUnits_GetList",
        "Campaigns_GetList",
        "TagTypes_GetList",
    }
    customer = unlimited.customers()[0]
    mark = unlimited.mark()
    app_client.patch(f"{CRM}/customers/{customer.id}", json={"active": True})
    (patch,) = unlimited.calls(since=mark)
    method, template, _ = _operation(patch.operation)
    assert (patch.operation, method) == ("Customers_Update", "PATCH")
    assert re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), patch.path)


def test_the_clients_tag_type_call_sends_only_what_settings_v2_declares_and_reads_its_answer(
    unlimited: SandboxHandle,
) -> None:
    """The request side: TagTypes_GetList's path, and every parameter declared with a value its schema accepts."""
    credentials = demo_credentials(unlimited)
    call = list_pick_list(credentials, "tag_type", page=2)
    method, template, op = _operation("TagTypes_GetList")
    declared = {p["name"]: p for p in op["parameters"] if p["in"] == "query"}
    spec = load_spec("settings-v2")

    assert call.method == method
    assert re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), call.path)
    assert set(call.params) <= set(declared)
    for name, value in call.params.items():
        schema = schema_of_parameter(spec, declared[name])
        Draft7Validator(schema).validate(value if schema.get("type") != "string" else str(value))
    assert call.params["active"] == "True"  # active tag types only

    with ServiceTitanClient(credentials, token_cache=TokenCache()) as client:
        tags = client.list_tag_types()
    assert [(t.id, t.name) for t in tags] == [(501, "VIP"), (502, "Maintenance Member")]  # 503 is retired


def schema_of_parameter(spec: dict[str, Any], parameter: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema as JSON Schema: `oneOf: [$ref]` resolved to the referenced component."""
    schema = dict(parameter["schema"])
    for option in schema.pop("oneOf", []):
        name = option["$ref"].rsplit("/", 1)[-1]
        schema.update(spec["components"]["schemas"][name])
    schema.pop("nullable", None)
    schema.pop("format", None)
    return cast(dict[str, Any], schema)
