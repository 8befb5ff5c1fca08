"""REST API v1: authentication by account API key, and one JSON error shape for every failure.

Every error answers `{"message": "...", "errors": {"<field>": ["<problem>", ...]}}` with a 4xx status, so a
client always learns which field was wrong and why.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.urls import URLPattern, URLResolver
from django.utils import timezone
from ninja import Field, NinjaAPI, Router, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from referloop.accounts.models import ApiKey, hash_token
from referloop.campaigns.errors import InputRejected
from referloop.runtime import plain_sql

LAST_USED_PRECISION = timedelta(minutes=1)  # write last_used_at at most once a minute per key


class ApiKeyAuth(HttpBearer):
    def __call__(self, request: HttpRequest) -> ApiKey | None:
        """Only "Bearer <key>" is read. ninja's own __call__ logs any other header whole with DEBUG on
        ("Unexpected auth - 'Basic rl_…'"): a real key in the log. Anything else is simply not authenticated."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        # Plain SQL, the key with its account in one statement: every API request asks (the ORM's join cost ~0.4
        # ms of a ~3 ms lead request).
        keys = plain_sql.instances_with(ApiKey, ["account"], "key_hash", hash_token(token))
        if not keys or keys[0].revoked_at is not None:
            return None
        key = keys[0]
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        request.account = key.account  # type: ignore[attr-defined]
        return key


class ErrorOut(Schema):
    """Every error answer: a sentence, and the problems by field."""

    message: str = Field(examples=["The request has invalid fields."])
    errors: dict[str, list[str]] = Field(examples=[{"email": ["Enter a valid email address."]}])


ERROR_ANSWERS = {
    400: "The request body is not valid JSON, or not an object.",
    401: "Missing, unknown or revoked API key.",
    404: "No such object in this account, or no such path.",
    422: "A field is missing or invalid; `errors` names each field and its problems.",
}


class ReferloopApi(NinjaAPI):
    """ninja documents only the success answers; every operation also answers the errors above, in one shape."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: Any = None) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for operations in schema["paths"].values():
            for operation in operations.values():
                statuses = [401, 422]
                if "requestBody" in operation:
                    statuses.append(400)
                if any(parameter.get("in") == "path" for parameter in operation.get("parameters", [])):
                    statuses.append(404)
                for status in sorted(statuses):
                    operation["responses"].setdefault(
                        str(status), {"description": ERROR_ANSWERS[status], "content": error}
                    )
        return schema

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        """ninja answers a method that a path does not have with a plain-text 405: ours is the JSON error shape."""
        urls = super()._get_urls()
        for url in urls:
            if isinstance(url, URLPattern):
                url.callback = json_method_not_allowed(url.callback)
        return urls


api = ReferloopApi(
    title="referloop API",
    version="1",
    description="Campaigns, referrers, leads and rewards of one referloop account. Authenticate with "
    "`Authorization: Bearer <API key>`; create keys under Account → API keys.",
    auth=ApiKeyAuth(),
    urls_namespace="api-v1",
    docs_url="/docs",
)


def error_response(request: HttpRequest, status: int, message: str, errors: dict[str, list[str]]) -> HttpResponse:
    return api.create_response(request, {"message": message, "errors": errors}, status=status)


def json_method_not_allowed(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @functools.wraps(view)  # keeps ninja's csrf_exempt mark
    def answer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if response.status_code != 405 or response.get("Content-Type", "").startswith("application/json"):
            return response
        allowed = response.get("Allow", "")
        problem = f"{request.method} is not allowed here; use {allowed}." if allowed else "Not allowed here."
        refused = error_response(request, 405, "Method not allowed.", {"method": [problem]})
        refused["Allow"] = allowed
        return refused

    return answer


def field_path(location: tuple[Any, ...] | list[Any]) -> str:
    """ninja's error location ("body", "payload", "email") as the client's field name ("email")."""
    parts = [str(part) for part in location]
    # Drop only ninja's own prefix (source, then parameter name): a client's key "payload" stays "payload".
    if parts and parts[0] in {"body", "query", "path"}:
        parts.pop(0)
        if parts and parts[0] in {"payload", "filters"}:
            parts.pop(0)
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        message = str(error.get("msg", "Invalid value.")).removeprefix("Value error, ")  # our own validators
        errors.setdefault(field_path(error.get("loc", ())), []).append(message)
    return error_response(request, 422, "The request has invalid fields.", errors)


@api.exception_handler(InputRejected)
def on_input_rejected(request: HttpRequest, exc: InputRejected) -> HttpResponse:
    return error_response(request, 422, "The request has invalid fields.", exc.errors)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        request,
        401,
        "Missing or unknown API key. Send `Authorization: Bearer <API key>`.",
        {"authorization": ["Missing, unknown or revoked API key."]},
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    field = "body" if exc.status_code == 400 else "request"
    return error_response(request, exc.status_code, str(exc), {field: [str(exc)]})


@api.exception_handler(RequestDataTooBig)
def on_request_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
    problem = f"The request body is larger than {limit_mb} MB."
    return error_response(request, 413, problem, {"body": [problem]})


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "Not found.", {"id": [str(exc) or "No such object in this account."]})


api.add_router("/", "referloop.campaigns.api.router")
api.add_router("/", "referloop.rewards.api.router")

fallback = Router(auth=None)


@fallback.api_operation(["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:unknown}", include_in_schema=False)
def unknown_path(request: HttpRequest, unknown: str) -> HttpResponse:
    """Any other /api/v1/ path: a JSON 404 like every other error, not the site's HTML page."""
    problem = f"There is no API operation at /api/v1/{unknown}. See /api/v1/docs."
    return error_response(request, 404, "Not found.", {"path": [problem]})


api.add_router("/", fallback)  # last, so that every real operation matches first
