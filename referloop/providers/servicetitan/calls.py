"""Every API operation described once: how to build its request and how to read its answer.

The sync and async clients only move these requests over the wire; all knowledge of paths, headers,
query parameters, response shapes and error meaning lives here and in `errors`, so the two clients
cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

import httpx

from ..transport import Answer, Outgoing
from .auth import Credentials, Token, new_token
from .errors import (
    AmbiguousError,
    RequestContext,
    ServiceTitanError,
    TransientError,
    error_from_response,
    token_error_from_response,
)
from .models import Booking, BookingProviderTag, Invoice, Job

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=10.0)
# The lists we read are small by nature (tags of a tenant, jobs of a booking, invoices of a job,
# bookings with one externalId), so one page of this size holds them all.
PAGE_SIZE = 200
# The follower's change lists (`list_changed_*`): `ids=` takes at most 50 (crm-v2 and jpm-v2 say so; accounting-v2
# gives no maximum, and we keep to 50 there too). A page of changes since a cursor asks for this many records (the
# largest pageSize ServiceTitan accepts is not documented; API-NOTES lists it as unconfirmed).
MAX_IDS = 50
CHANGES_PAGE_SIZE = 500
USER_AGENT = "referloop-servicetitan/1"


@dataclass(frozen=True)
class ApiCall(Generic[T]):
    method: str
    path: str  # below the environment's API base URL
    context: RequestContext
    parse: Callable[[object], T]
    params: Mapping[str, str | int] = field(default_factory=dict)
    json: Mapping[str, object] | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a paginated list, and whether another follows."""

    items: list[T]
    has_more: bool


@dataclass(frozen=True)
class Changes:
    """Which records of a list to read: these ids (at most MAX_IDS), and/or those modified on or after `since`."""

    ids: tuple[int, ...] = ()
    since: datetime | None = None
    page: int = 1

    def __post_init__(self) -> None:
        if len(self.ids) > MAX_IDS:
            raise ValueError(f"at most {MAX_IDS} ids per call, not {len(self.ids)}")
        if self.page < 1:
            raise ValueError(f"pages start at 1, not {self.page}")

    def params(self) -> dict[str, str | int]:
        params: dict[str, str | int] = {"page": self.page, "pageSize": CHANGES_PAGE_SIZE if not self.ids else MAX_IDS}
        if self.ids:
            params["ids"] = ",".join(str(i) for i in self.ids)
        if self.since is not None:
            params["modifiedOnOrAfter"] = self.since.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return params


def outgoing(call: ApiCall[T], credentials: Credentials, access_token: str, timeout: httpx.Timeout) -> Outgoing:
    return Outgoing(
        call.method,
        credentials.environment.api_base_url + call.path,
        params=call.params,
        json=call.json,
        headers={
            "Authorization": f"Bearer {access_token}",
            "ST-App-Key": credentials.app_key,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        },
        timeout=timeout,
    )


def needs_fresh_token(response: Answer) -> bool:
    """A 401 from the API: the token expired or was revoked early; fetch a new one and retry once."""
    return response.status_code == 401


def read_result(call: ApiCall[T], response: Answer) -> T:
    """The parsed result of a 2xx answer; the matching ServiceTitanError for anything else."""
    if not response.is_success:
        raise error_from_response(response, call.context)
    try:
        return call.parse(response.json())
    except (ValueError, TypeError) as exc:
        raise _unreadable(call.context, response) from exc


def _unreadable(context: RequestContext, response: Answer) -> ServiceTitanError:
    sentence = (
        f"ServiceTitan answered the request to {context.action} (HTTP {response.status_code}) "
        "with a response referloop could not read"
    )
    body = response.text[:1000] or None
    if context.idempotent:
        return TransientError(f"{sentence}; try again later.", status=response.status_code, body=body)
    return AmbiguousError(
        f"{sentence}, so it may have been carried out; check before sending it again.",
        status=response.status_code,
        body=body,
    )


# -- the token endpoint --------------------------------------------------------------------------


def token_context(credentials: Credentials) -> RequestContext:
    return RequestContext(
        action="get an access token",
        environment=credentials.environment.name,
        tenant_id=credentials.tenant_id,
    )


def token_outgoing(credentials: Credentials, timeout: httpx.Timeout) -> Outgoing:
    return Outgoing(
        "POST",
        credentials.environment.token_url,
        form={
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        },
        headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        timeout=timeout,
        paced=False,  # the identity server is not the tenant's API: no per-tenant limit
    )


def read_token(credentials: Credentials, response: Answer, issued_at: float) -> Token:
    """`issued_at` is taken before the request was sent, so the token is never trusted too long."""
    context = token_context(credentials)
    if not response.is_success:
        raise token_error_from_response(response, context)
    try:
        data = _object(response.json())
        access_token = data["access_token"]
        expires_in = data.get("expires_in", 900)
        if not isinstance(access_token, str) or not access_token or not isinstance(expires_in, int | float):
            raise ValueError("no access_token or expires_in")
    except (ValueError, KeyError) as exc:
        raise _unreadable(context, response) from exc
    return new_token(access_token, float(expires_in), issued_at)


# -- operations ----------------------------------------------------------------------------------


def _object(data: object) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        raise ValueError("expected a JSON object")
    return data


def _page(data: object, read: Callable[[Mapping[str, object]], T]) -> Page[T]:
    has_more = _object(data).get("hasMore")
    return Page([read(item) for item in _items(data)], has_more is True)


def _items(data: object) -> list[Mapping[str, object]]:
    """The records of a paginated envelope (`{"data": [...], "hasMore": ...}`)."""
    items = _object(data).get("data")
    if not isinstance(items, list):
        raise ValueError("expected a paginated response")
    return [_object(item) for item in items]


def _context(
    credentials: Credentials,
    action: str,
    *,
    booking_provider_id: int | None = None,
    subject: str | None = None,
    idempotent: bool = True,
) -> RequestContext:
    return RequestContext(
        action=action,
        environment=credentials.environment.name,
        tenant_id=credentials.tenant_id,
        booking_provider_id=booking_provider_id,
        subject=subject,
        idempotent=idempotent,
    )


def _crm(credentials: Credentials) -> str:
    return f"/crm/v2/tenant/{credentials.tenant_id}"


def _bookings(credentials: Credentials, booking_provider_id: int) -> str:
    return f"{_crm(credentials)}/booking-provider/{booking_provider_id}/bookings"


def create_booking(credentials: Credentials, booking_provider_id: int, body: Mapping[str, object]) -> ApiCall[Booking]:
    return ApiCall(
        "POST",
        _bookings(credentials, booking_provider_id),
        _context(credentials, "create the booking", booking_provider_id=booking_provider_id, idempotent=False),
        lambda data: Booking.from_api(_object(data)),
        json=body,
    )


def get_booking(credentials: Credentials, booking_provider_id: int, booking_id: int) -> ApiCall[Booking]:
    return ApiCall(
        "GET",
        f"{_bookings(credentials, booking_provider_id)}/{booking_id}",
        _context(
            credentials,
            f"read booking {booking_id}",
            booking_provider_id=booking_provider_id,
            subject=f"booking {booking_id}",
        ),
        lambda data: Booking.from_api(_object(data)),
    )


def find_bookings_by_external_id(
    credentials: Credentials, booking_provider_id: int, external_id: str
) -> ApiCall[list[Booking]]:
    return ApiCall(
        "GET",
        _bookings(credentials, booking_provider_id),
        _context(credentials, "look up bookings by External Id", booking_provider_id=booking_provider_id),
        lambda data: [Booking.from_api(item) for item in _items(data)],
        params={"externalId": external_id, "pageSize": PAGE_SIZE},
    )


def list_booking_provider_tags(credentials: Credentials) -> ApiCall[list[BookingProviderTag]]:
    return ApiCall(
        "GET",
        f"{_crm(credentials)}/booking-provider-tags",
        _context(credentials, "list the booking provider tags"),
        lambda data: [BookingProviderTag.from_api(item) for item in _items(data)],
        params={"pageSize": PAGE_SIZE},
    )


def get_booking_provider_tag(credentials: Credentials, tag_id: int) -> ApiCall[BookingProviderTag]:
    return ApiCall(
        "GET",
        f"{_crm(credentials)}/booking-provider-tags/{tag_id}",
        _context(credentials, f"read booking provider tag {tag_id}", subject=f"booking provider tag {tag_id}"),
        lambda data: BookingProviderTag.from_api(_object(data)),
    )


def get_job(credentials: Credentials, job_id: int) -> ApiCall[Job]:
    return ApiCall(
        "GET",
        f"/jpm/v2/tenant/{credentials.tenant_id}/jobs/{job_id}",
        _context(credentials, f"read job {job_id}", subject=f"job {job_id}"),
        lambda data: Job.from_api(_object(data)),
    )


def list_jobs_by_booking(credentials: Credentials, booking_id: int) -> ApiCall[list[Job]]:
    return ApiCall(
        "GET",
        f"/jpm/v2/tenant/{credentials.tenant_id}/jobs",
        _context(credentials, f"list the jobs of booking {booking_id}"),
        lambda data: [Job.from_api(item) for item in _items(data)],
        params={"bookingId": booking_id, "pageSize": PAGE_SIZE},
    )


def list_invoices_by_job(credentials: Credentials, job_id: int) -> ApiCall[list[Invoice]]:
    return ApiCall(
        "GET",
        f"/accounting/v2/tenant/{credentials.tenant_id}/invoices",
        _context(credentials, f"list the invoices of job {job_id}"),
        lambda data: [Invoice.from_api(item) for item in _items(data)],
        params={"jobId": job_id, "pageSize": PAGE_SIZE},
    )


# -- the follower's change lists -----------------------------------------------------------------------------------


def list_changed_bookings(
    credentials: Credentials, booking_provider_id: int, changes: Changes
) -> ApiCall[Page[Booking]]:
    """The booking provider's bookings among `changes` (its own bookings only: the provider scope)."""
    return ApiCall(
        "GET",
        _bookings(credentials, booking_provider_id),
        _context(credentials, "list changed bookings", booking_provider_id=booking_provider_id),
        lambda data: _page(data, Booking.from_api),
        params=changes.params(),
    )


def list_changed_jobs(credentials: Credentials, changes: Changes) -> ApiCall[Page[Job]]:
    return ApiCall(
        "GET",
        f"/jpm/v2/tenant/{credentials.tenant_id}/jobs",
        _context(credentials, "list changed jobs"),
        lambda data: _page(data, Job.from_api),
        params=changes.params(),
    )


def list_changed_invoices(credentials: Credentials, changes: Changes) -> ApiCall[Page[Invoice]]:
    return ApiCall(
        "GET",
        f"/accounting/v2/tenant/{credentials.tenant_id}/invoices",
        _context(credentials, "list changed invoices"),
        lambda data: _page(data, Invoice.from_api),
        params=changes.params(),
    )
