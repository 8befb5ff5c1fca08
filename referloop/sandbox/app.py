"""The sandbox as an ASGI app: `create_app()` for uvicorn, Starlette's TestClient or any ASGI server."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from referloop.sandbox import control, control_customers, page
from referloop.sandbox.api import accounting, catalog, crm, customers, jpm, oauth
from referloop.sandbox.config import SandboxConfig
from referloop.sandbox.errors import ApiError
from referloop.sandbox.runtime import Sandbox


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """A fresh sandbox with empty state; without a config, the seeded demo tenant and app key."""
    app = Starlette(
        routes=[
            *oauth.routes,
            *crm.routes,
            *customers.routes,
            *jpm.routes,
            *catalog.routes,
            *accounting.routes,
            *control.routes,
            *control_customers.routes,
            *page.routes,
        ],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.sandbox = Sandbox(config or SandboxConfig.demo())
    return app


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    # Unknown paths and wrong methods get ServiceTitan's error shape too, not Starlette's plain text.
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    title = {404: "The requested resource was not found.", 405: "Method not allowed."}.get(status, "Error")
    return ApiError(status, title).response()
