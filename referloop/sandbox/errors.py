"""ServiceTitan's error body (`ApiErrorResponse`, RFC 7807 as ASP.NET Core shapes it) and its exception.

The `type` URIs follow ASP.NET Core's defaults for each status; ServiceTitan's real values are unconfirmed.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import JSONResponse

VALIDATION_TITLE = "One or more validation errors occurred."

_TYPES = {
    400: "https://tools.ietf.org/html/rfc7231#section-6.5.1",
    401: "https://tools.ietf.org/html/rfc7235#section-3.1",
    403: "https://tools.ietf.org/html/rfc7231#section-6.5.3",
    404: "https://tools.ietf.org/html/rfc7231#section-6.5.4",
    405: "https://tools.ietf.org/html/rfc7231#section-6.5.5",
    409: "https://tools.ietf.org/html/rfc7231#section-6.5.8",
    415: "https://tools.ietf.org/html/rfc7231#section-6.5.13",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
    500: "https://tools.ietf.org/html/rfc7231#section-6.6.1",
    503: "https://tools.ietf.org/html/rfc7231#section-6.6.4",
}


class ApiError(Exception):
    """Raised anywhere in an API call; the pipeline answers it with an ApiErrorResponse body."""

    def __init__(
        self,
        status: int,
        title: str,
        errors: dict[str, list[str]] | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.errors = errors or {}
        self.data = data or {}
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(problem(self.status, self.title, self.errors, self.data), self.status, self.headers)


def problem(
    status: int, title: str, errors: dict[str, list[str]] | None = None, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "type": _TYPES.get(status, "about:blank"),
        "title": title,
        "status": status,
        # W3C traceparent, as ASP.NET Core fills traceId.
        "traceId": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00",
        "errors": errors or {},
        "data": data or {},
    }


def validation_error(errors: dict[str, list[str]]) -> ApiError:
    return ApiError(400, VALIDATION_TITLE, errors)


def not_found(title: str) -> ApiError:
    return ApiError(404, title)
