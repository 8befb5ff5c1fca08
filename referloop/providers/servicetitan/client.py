"""The ServiceTitan API client, sync (httpx.Client) and async (any `transport.AsyncSender`).

Both are thin: requests are built and answers read by `calls`, tokens come from the shared
`TokenCache`. What is left here is moving bytes, plus the one rule about tokens: on a 401, drop the
token that failed, get a fresh one and try once more; a second 401 means the credentials are rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Self, TypeVar

import httpx

from ..transport import Answer, AsyncSender, HttpxSender, Outgoing, TransportFailure, send_with_httpx
from . import calls, customers
from .auth import TOKEN_CACHE, Credentials, Token, TokenCache, token_key
from .calls import ApiCall, Changes, Page
from .catalog import list_pick_list
from .customer_models import Customer, CustomerContact, CustomFieldType, ExportPage, PickListItem
from .errors import RequestContext, error_from_transport
from .models import Booking, BookingProviderTag, Invoice, Job

T = TypeVar("T")
# Pages of a pick list or of the custom field types read before giving up: far more than any tenant has.
MAX_PAGES = 100


class _Base:
    def __init__(self, credentials: Credentials, timeout: httpx.Timeout | None, token_cache: TokenCache | None) -> None:
        self.credentials = credentials
        self.timeout = timeout or calls.DEFAULT_TIMEOUT
        self.token_cache = token_cache or TOKEN_CACHE
        self.token_key = token_key(credentials)

    def _api_request(self, call: ApiCall[T], token: Token) -> Outgoing:
        return calls.outgoing(call, self.credentials, token.access_token, self.timeout)


class ServiceTitanClient(_Base):
    """Blocking client. Pass `http_client` to share a connection pool; it is then not closed here."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        token_cache: TokenCache | None = None,
    ) -> None:
        super().__init__(credentials, timeout, token_cache)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(transport=transport)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def fetch_token(self) -> Token:
        """Check the credentials by fetching a new token (which then serves later calls)."""
        self.token_cache.invalidate(self.token_key)
        return self._token()

    def create_booking(self, booking_provider_id: int, body: Mapping[str, object]) -> Booking:
        return self._send(calls.create_booking(self.credentials, booking_provider_id, body))

    def get_booking(self, booking_provider_id: int, booking_id: int) -> Booking:
        return self._send(calls.get_booking(self.credentials, booking_provider_id, booking_id))

    def find_bookings_by_external_id(self, booking_provider_id: int, external_id: str) -> list[Booking]:
        return self._send(calls.find_bookings_by_external_id(self.credentials, booking_provider_id, external_id))

    def list_booking_provider_tags(self) -> list[BookingProviderTag]:
        return self._send(calls.list_booking_provider_tags(self.credentials))

    def get_booking_provider_tag(self, tag_id: int) -> BookingProviderTag:
        return self._send(calls.get_booking_provider_tag(self.credentials, tag_id))

    def get_job(self, job_id: int) -> Job:
        return self._send(calls.get_job(self.credentials, job_id))

    def list_jobs_by_booking(self, booking_id: int) -> list[Job]:
        return self._send(calls.list_jobs_by_booking(self.credentials, booking_id))

    def list_invoices_by_job(self, job_id: int) -> list[Invoice]:
        return self._send(calls.list_invoices_by_job(self.credentials, job_id))

    # Customers (crm-v2) and pick lists: see `customers` and `catalog` for what each call means.

    def export_customers(
        self, from_token: str | None = None, *, include_recent_changes: bool = True
    ) -> ExportPage[Customer]:
        return self._send(
            customers.export_customers(self.credentials, from_token, include_recent_changes=include_recent_changes)
        )

    def export_customer_contacts(
        self, from_token: str | None = None, *, include_recent_changes: bool = True
    ) -> ExportPage[CustomerContact]:
        return self._send(
            customers.export_customer_contacts(
                self.credentials, from_token, include_recent_changes=include_recent_changes
            )
        )

    def get_customer(self, customer_id: int) -> Customer:
        return self._send(customers.get_customer(self.credentials, customer_id))

    def update_customer_custom_fields(self, customer_id: int, values: Mapping[int, str]) -> Customer:
        return self._send(customers.update_customer_custom_fields(self.credentials, customer_id, values))

    def find_customers_by_phone(self, phone: str) -> list[Customer]:
        return self._send(customers.find_customers_by_phone(self.credentials, phone))

    def count_customers(self) -> int | None:
        return self._send(customers.count_customers(self.credentials))

    def list_customer_contacts(self, customer_id: int) -> list[CustomerContact]:
        return self._send(customers.list_customer_contacts(self.credentials, customer_id))

    def list_contacts_of_customers(self, customer_ids: Sequence[int], page: int = 1) -> Page[CustomerContact]:
        return self._send(customers.list_contacts_of_customers(self.credentials, customer_ids, page))

    def list_custom_field_types(self) -> list[CustomFieldType]:
        return self._all_pages(lambda page: customers.list_custom_field_types(self.credentials, page))

    def list_job_types(self) -> list[PickListItem]:
        """The tenant's active job types, every page."""
        return self._all_pages(lambda page: list_pick_list(self.credentials, "job_type", page))

    def list_business_units(self) -> list[PickListItem]:
        return self._all_pages(lambda page: list_pick_list(self.credentials, "business_unit", page))

    def list_campaigns(self) -> list[PickListItem]:
        return self._all_pages(lambda page: list_pick_list(self.credentials, "campaign", page))

    def list_tag_types(self) -> list[PickListItem]:
        """The tenant's active tag types (settings-v2 TagTypes_GetList), every page."""
        return self._all_pages(lambda page: list_pick_list(self.credentials, "tag_type", page))

    def _all_pages(self, call_for: Callable[[int], ApiCall[Page[T]]]) -> list[T]:
        items: list[T] = []
        for page in range(1, MAX_PAGES + 1):
            result = self._send(call_for(page))
            items.extend(result.items)
            if not result.has_more:
                break
        return items

    def _send(self, call: ApiCall[T]) -> T:
        token = self._token()
        response = self._transmit(self._api_request(call, token), call.context)
        if calls.needs_fresh_token(response):
            self.token_cache.invalidate(self.token_key, stale=token.access_token)
            token = self._token()
            response = self._transmit(self._api_request(call, token), call.context)
        return calls.read_result(call, response)

    def _token(self) -> Token:
        return self.token_cache.get(self.token_key, self._fetch_token)

    def _fetch_token(self) -> Token:
        issued_at = self.token_cache.clock()
        request = calls.token_outgoing(self.credentials, self.timeout)
        response = self._transmit(request, calls.token_context(self.credentials))
        return calls.read_token(self.credentials, response, issued_at)

    def _transmit(self, request: Outgoing, context: RequestContext) -> httpx.Response:
        try:
            return send_with_httpx(self._http, request)
        except TransportFailure as failure:
            raise error_from_transport(failure, context) from failure


class AsyncServiceTitanClient(_Base):
    """Asyncio client. The worker passes one shared `sender` (a paced aiohttp pool); a `sender` or an
    `http_client` passed in is not closed here. Without either, it sends through its own httpx.AsyncClient."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        sender: AsyncSender | None = None,
        token_cache: TokenCache | None = None,
    ) -> None:
        super().__init__(credentials, timeout, token_cache)
        self._owns_sender = sender is None
        if sender is None:
            owned = http_client is None
            sender = HttpxSender(http_client or httpx.AsyncClient(transport=transport), owned=owned)
        self._sender = sender

    async def aclose(self) -> None:
        if self._owns_sender:
            await self._sender.aclose()  # an HttpxSender closes only a client it made

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def fetch_token(self) -> Token:
        """Check the credentials by fetching a new token (which then serves later calls)."""
        self.token_cache.invalidate(self.token_key)
        return await self._token()

    async def create_booking(self, booking_provider_id: int, body: Mapping[str, object]) -> Booking:
        return await self._send(calls.create_booking(self.credentials, booking_provider_id, body))

    async def get_booking(self, booking_provider_id: int, booking_id: int) -> Booking:
        return await self._send(calls.get_booking(self.credentials, booking_provider_id, booking_id))

    async def find_bookings_by_external_id(self, booking_provider_id: int, external_id: str) -> list[Booking]:
        return await self._send(calls.find_bookings_by_external_id(self.credentials, booking_provider_id, external_id))

    async def list_booking_provider_tags(self) -> list[BookingProviderTag]:
        return await self._send(calls.list_booking_provider_tags(self.credentials))

    async def get_booking_provider_tag(self, tag_id: int) -> BookingProviderTag:
        return await self._send(calls.get_booking_provider_tag(self.credentials, tag_id))

    async def get_job(self, job_id: int) -> Job:
        return await self._send(calls.get_job(self.credentials, job_id))

    async def list_jobs_by_booking(self, booking_id: int) -> list[Job]:
        return await self._send(calls.list_jobs_by_booking(self.credentials, booking_id))

    async def list_invoices_by_job(self, job_id: int) -> list[Invoice]:
        return await self._send(calls.list_invoices_by_job(self.credentials, job_id))

    async def list_changed_bookings(self, booking_provider_id: int, changes: Changes) -> Page[Booking]:
        return await self._send(calls.list_changed_bookings(self.credentials, booking_provider_id, changes))

    async def list_changed_jobs(self, changes: Changes) -> Page[Job]:
        return await self._send(calls.list_changed_jobs(self.credentials, changes))

    async def list_changed_invoices(self, changes: Changes) -> Page[Invoice]:
        return await self._send(calls.list_changed_invoices(self.credentials, changes))

    # Customers (crm-v2) and pick lists: see `customers` and `catalog` for what each call means.

    async def export_customers(
        self, from_token: str | None = None, *, include_recent_changes: bool = True
    ) -> ExportPage[Customer]:
        return await self._send(
            customers.export_customers(self.credentials, from_token, include_recent_changes=include_recent_changes)
        )

    async def export_customer_contacts(
        self, from_token: str | None = None, *, include_recent_changes: bool = True
    ) -> ExportPage[CustomerContact]:
        return await self._send(
            customers.export_customer_contacts(
                self.credentials, from_token, include_recent_changes=include_recent_changes
            )
        )

    async def get_customer(self, customer_id: int) -> Customer:
        return await self._send(customers.get_customer(self.credentials, customer_id))

    async def update_customer_custom_fields(self, customer_id: int, values: Mapping[int, str]) -> Customer:
        return await self._send(customers.update_customer_custom_fields(self.credentials, customer_id, values))

    async def find_customers_by_phone(self, phone: str) -> list[Customer]:
        return await self._send(customers.find_customers_by_phone(self.credentials, phone))

    async def count_customers(self) -> int | None:
        return await self._send(customers.count_customers(self.credentials))

    async def list_customer_contacts(self, customer_id: int) -> list[CustomerContact]:
        return await self._send(customers.list_customer_contacts(self.credentials, customer_id))

    async def list_contacts_of_customers(self, customer_ids: Sequence[int], page: int = 1) -> Page[CustomerContact]:
        return await self._send(customers.list_contacts_of_customers(self.credentials, customer_ids, page))

    async def list_custom_field_types(self) -> list[CustomFieldType]:
        return await self._all_pages(lambda page: customers.list_custom_field_types(self.credentials, page))

    async def list_job_types(self) -> list[PickListItem]:
        """The tenant's active job types, every page."""
        return await self._all_pages(lambda page: list_pick_list(self.credentials, "job_type", page))

    async def list_business_units(self) -> list[PickListItem]:
        return await self._all_pages(lambda page: list_pick_list(self.credentials, "business_unit", page))

    async def list_campaigns(self) -> list[PickListItem]:
        return await self._all_pages(lambda page: list_pick_list(self.credentials, "campaign", page))

    async def list_tag_types(self) -> list[PickListItem]:
        return await self._all_pages(lambda page: list_pick_list(self.credentials, "tag_type", page))

    async def _all_pages(self, call_for: Callable[[int], ApiCall[Page[T]]]) -> list[T]:
        items: list[T] = []
        for page in range(1, MAX_PAGES + 1):
            result = await self._send(call_for(page))
            items.extend(result.items)
            if not result.has_more:
                break
        return items

    async def _send(self, call: ApiCall[T]) -> T:
        token = await self._token()
        response = await self._transmit(self._api_request(call, token), call.context)
        if calls.needs_fresh_token(response):
            self.token_cache.invalidate(self.token_key, stale=token.access_token)
            token = await self._token()
            response = await self._transmit(self._api_request(call, token), call.context)
        return calls.read_result(call, response)

    async def _token(self) -> Token:
        return await self.token_cache.aget(self.token_key, self._fetch_token)

    async def _fetch_token(self) -> Token:
        issued_at = self.token_cache.clock()
        request = calls.token_outgoing(self.credentials, self.timeout)
        response = await self._transmit(request, calls.token_context(self.credentials))
        return calls.read_token(self.credentials, response, issued_at)

    async def _transmit(self, request: Outgoing, context: RequestContext) -> Answer:
        try:
            return await self._sender.send(request)
        except TransportFailure as failure:
            raise error_from_transport(failure, context) from failure
