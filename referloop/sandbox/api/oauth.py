"""POST /connect/token: OAuth 2.0 client credentials, answered the way IdentityServer answers.

On the real service this lives on its own host (auth.servicetitan.io); the sandbox serves it beside the API.
"""

from __future__ import annotations

import hmac
import math
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from referloop.sandbox.errors import ApiError
from referloop.sandbox.pipeline import finish, raise_injected_error
from referloop.sandbox.runtime import sandbox_of
from referloop.sandbox.tokens import SCOPE

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def issue_token(request: Request) -> Response:
    sandbox = sandbox_of(request)
    tenant_id: int | None = None
    try:
        raise_injected_error(sandbox)
        form = await _form(request)
        if form is None:
            response = _oauth_error("invalid_request")
        else:
            tenant = sandbox.config.tenant_for_client(form.get("client_id", ""))
            secret = form.get("client_secret", "").encode()
            if tenant is None or not hmac.compare_digest(tenant.client_secret.encode(), secret):
                response = _oauth_error("invalid_client")
            elif form.get("grant_type") != "client_credentials":
                response = _oauth_error("unsupported_grant_type")
            else:
                tenant_id = tenant.tenant_id
                lifetime = sandbox.config.token_lifetime_seconds
                token = sandbox.tokens.issue(tenant.tenant_id, tenant.client_id, lifetime)
                body = {
                    "access_token": token.value,
                    "expires_in": max(1, math.ceil(lifetime)),
                    "token_type": "Bearer",
                    "scope": SCOPE,
                }
                response = JSONResponse(body, headers=_NO_STORE)
    except ApiError as error:
        response = error.response()
    return await finish(request, sandbox, "Token", tenant_id, response)


async def _form(request: Request) -> dict[str, str] | None:
    """The form fields, or None when the body is not form-encoded (no python-multipart needed)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    try:
        fields = parse_qs((await request.body()).decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        return None
    return {name: values[0] for name, values in fields.items()}


def _oauth_error(code: str) -> JSONResponse:
    return JSONResponse({"error": code}, status_code=400, headers=_NO_STORE)


routes = [Route("/connect/token", issue_token, methods=["POST"])]
