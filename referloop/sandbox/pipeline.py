"""What happens to every API call around its handler, in the order a gateway and ASP.NET would do it.

app key (401) → tenant exists (404) → bearer token valid and for this tenant (401/403) → rate limit (429)
→ injected 429 (throttle_rate) → injected 500/503 → the handler (400/404/200) → latency, jitter and hangs
→ counted in the stats.

Delays run after the handler, so a client that times out on a create has still created the booking:
the ambiguous outcome a real network produces and the delivery engine must survive.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from referloop.sandbox.config import BookingProvider, TenantConfig
from referloop.sandbox.errors import ApiError, not_found
from referloop.sandbox.query import Query
from referloop.sandbox.runtime import Sandbox, sandbox_of
from referloop.sandbox.state import NotFound, SandboxState
from referloop.sandbox.validation import read_json, validate

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class ApiCall:
    """An admitted API call: the app key, token, tenant and rate limit have all passed."""

    request: Request
    sandbox: Sandbox
    tenant: TenantConfig

    @property
    def state(self) -> SandboxState:
        return self.sandbox.state

    @property
    def tenant_id(self) -> int:
        return self.tenant.tenant_id

    def path_id(self, name: str = "id") -> int:
        value: int = self.request.path_params[name]
        return value

    def provider(self) -> BookingProvider:
        provider_id = self.path_id("booking_provider")
        provider = self.tenant.provider(provider_id)
        if provider is None:
            raise not_found(f"Booking provider {provider_id} was not found for tenant {self.tenant_id}.")
        return provider

    async def body(self, schema_name: str) -> dict[str, Any]:
        body = await read_json(self.request)
        validate(schema_name, body)
        checked: dict[str, Any] = body
        return checked

    def query(self) -> Query:
        return Query(self.request.query_params)


Handler = Callable[[ApiCall], Awaitable[Response]]


class DroppedResponse(JSONResponse):
    """Sends the status line, headers and half the body, then ends the call: uvicorn closes the socket.

    A client sees the connection die mid-response (httpx: RemoteProtocolError) after the server did the
    work, which is the case "look the booking up by externalId before sending again" exists for.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})


def api_endpoint(operation: str) -> Callable[[Handler], Endpoint]:
    """Wrap a handler with the checks, faults and counting every ServiceTitan API call gets."""

    def decorate(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            sandbox = sandbox_of(request)
            try:
                response = await handler(_admit(request, sandbox))
            except ApiError as error:
                response = error.response()
            except NotFound as missing:
                response = not_found(str(missing)).response()
            return await finish(request, sandbox, operation, request.path_params.get("tenant"), response)

        return endpoint

    return decorate


def _admit(request: Request, sandbox: Sandbox) -> ApiCall:
    config = sandbox.config
    app_key = request.headers.get("st-app-key") or request.query_params.get("servicetitanapplicationkey")
    if not app_key or app_key not in config.app_keys:
        raise ApiError(
            401,
            "The ST-App-Key header is missing or is not an accepted application key.",
            data={"reason": "app_key"},
        )

    tenant_id: int = request.path_params["tenant"]
    tenant = config.tenant(tenant_id)
    if tenant is None:
        raise not_found(f"Tenant {tenant_id} was not found.")

    _authenticate(request, sandbox, tenant)

    retry_after = sandbox.limiter.acquire((app_key, tenant_id), config.rate_limit_for(tenant))
    if retry_after is None and sandbox.chaos.throttles():
        retry_after = 1
    if retry_after is not None:
        raise ApiError(
            429,
            "Too many requests: the rate limit for this application and tenant is exceeded.",
            data={"retryAfterSeconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )

    raise_injected_error(sandbox)
    return ApiCall(request, sandbox, tenant)


def _authenticate(request: Request, sandbox: Sandbox, tenant: TenantConfig) -> None:
    header = request.headers.get("authorization", "").strip()
    # The docs' own curl example sends the bare token; clients send "Bearer <token>". Both work.
    value = header[7:].strip() if header[:7].lower() == "bearer " else header
    challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if not value:
        raise ApiError(
            401,
            "An access token is required (Authorization: Bearer <token>).",
            data={"reason": "token_missing"},
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = sandbox.tokens.find(value)
    issuer = sandbox.config.tenant(token.tenant_id) if token else None
    # Replacing a tenant's client id revokes the tokens issued to the old one.
    if token is None or issuer is None or issuer.client_id != token.client_id:
        raise ApiError(401, "The access token is not valid.", data={"reason": "token_invalid"}, headers=challenge)
    if token.expired():
        raise ApiError(401, "The access token has expired.", data={"reason": "token_expired"}, headers=challenge)
    if token.tenant_id != tenant.tenant_id:
        raise ApiError(
            403,
            f"The access token was not issued for tenant {tenant.tenant_id}.",
            data={"reason": "wrong_tenant"},
        )


def raise_injected_error(sandbox: Sandbox) -> None:
    status = sandbox.chaos.injected_error()
    if status == 500:
        raise ApiError(500, "An unexpected error occurred (injected by the sandbox).", data={"injected": True})
    if status == 503:
        raise ApiError(
            503, "The service is temporarily unavailable (injected by the sandbox).", data={"injected": True}
        )


async def finish(
    request: Request, sandbox: Sandbox, operation: str, tenant_id: int | None, response: Response
) -> Response:
    """Apply latency, jitter and hangs, then count the outcome and log the call."""
    delay = sandbox.chaos.delay_seconds()
    if sandbox.chaos.hangs():
        delay += sandbox.config.hang_seconds
    if delay > 0:
        await pause(request, delay)
    outcome = "dropped" if isinstance(response, DroppedResponse) else str(response.status_code)
    sandbox.stats.record(operation, tenant_id, outcome, request.method, request.url.path, request.url.query)
    return response


async def pause(request: Request, seconds: float) -> None:
    """Sleep, but stop as soon as the client hangs up: a hung call must not outlive its caller."""
    async with anyio.create_task_group() as group:

        async def until_disconnect() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(until_disconnect)
        await anyio.sleep(seconds)
        group.cancel_scope.cancel()
