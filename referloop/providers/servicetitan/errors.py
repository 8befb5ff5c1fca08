"""What can go wrong talking to ServiceTitan, sorted by what the delivery engine should do about it.

- TransientError: nothing happened on ServiceTitan's side (or it asked us to come back): retry later.
- AmbiguousError: the request may have been carried out; check (look the booking up by externalId)
  before sending it again.
- PermanentError: retrying the same request cannot help; a person has to fix something.
- CredentialsRejected: a PermanentError about the client id and secret, so the integration is disconnected.

Each error carries one plain sentence for a person (`message`) and, separately, ServiceTitan's own
words (`body` as received and `servicetitan_text` flattened), because the UI shows both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..transport import Answer, InvalidRequest, TransportFailure, parse_retry_after
from .fields import TARGET_FIELDS

ErrorBody = dict[str, object] | str | None

_RAW_TEXT_LIMIT = 1000
_BOOKING_PROVIDER_WHERE = (
    "ServiceTitan shows it under Settings → Integrations → API Application Access → the app's details"
)
_LABELS_BY_KEY = {field.key.casefold(): field.label for field in TARGET_FIELDS}


class ServiceTitanError(Exception):
    permanent: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: ErrorBody = None,
        permanent: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        if permanent is not None:
            self.permanent = permanent

    @property
    def servicetitan_text(self) -> str | None:
        """ServiceTitan's own error text, flattened to one line (None when it sent none)."""
        return servicetitan_text(self.body)


class TransientError(ServiceTitanError):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: ErrorBody = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class AmbiguousError(ServiceTitanError):
    pass


class PermanentError(ServiceTitanError):
    permanent = True


class CredentialsRejected(PermanentError):
    pass


@dataclass(frozen=True)
class RequestContext:
    """What a request was for, so an error can be explained in the user's terms.

    `subject` names the thing a 404 would be about ("booking 17"); None means the booking provider
    itself (create, list) when `booking_provider_id` is set. `idempotent` requests are safe to repeat,
    so losing their answer is a TransientError rather than an AmbiguousError.
    """

    action: str
    environment: str
    tenant_id: int
    booking_provider_id: int | None = None
    subject: str | None = None
    idempotent: bool = True


def error_from_response(response: Answer, context: RequestContext) -> ServiceTitanError:
    """The error for a non-2xx API response (a 401 here means a fresh token was refused too)."""
    status = response.status_code
    body = response_body(response)
    if status == 401:
        # The token endpoint has just accepted the client id and secret, so the app key, the tenant or
        # the environment is the likelier mismatch.
        return CredentialsRejected(
            f"ServiceTitan refused a newly issued access token for tenant {context.tenant_id} in the "
            f"{context.environment} environment: check the app key, and that the client ID and secret were "
            f"generated for this tenant in {context.environment}, since they are specific to one environment "
            "and one tenant.",
            status=status,
            body=body,
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return TransientError(
            _rate_limit_sentence(context, retry_after), status=status, body=body, retry_after=retry_after
        )
    if status >= 500:
        return TransientError(
            f"ServiceTitan had a server error (HTTP {status}) while trying to {context.action}; "
            "this is usually temporary, so try again later.",
            status=status,
            body=body,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return PermanentError(_client_error_sentence(status, body, context), status=status, body=body)


def token_error_from_response(response: Answer, context: RequestContext) -> ServiceTitanError:
    """The error for a non-2xx answer from the token endpoint."""
    status = response.status_code
    body = response_body(response)
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return TransientError(
            f"ServiceTitan's sign-in service did not issue a token (HTTP {status}); try again later.",
            status=status,
            body=body,
            retry_after=retry_after,
        )
    return CredentialsRejected(_credentials_sentence(context), status=status, body=body)


def error_from_transport(failure: TransportFailure, context: RequestContext) -> ServiceTitanError:
    """The error for a request that got no answer: the one place that decides whether it may have been carried out.

    A request that never reached ServiceTitan is safe to send again; one that may have reached it is too when it
    is idempotent (a read), and otherwise (a create) the next try must look first.
    """
    if isinstance(failure, InvalidRequest):
        return PermanentError(
            f"referloop could not build a valid request to {context.action}: {failure.message.rstrip('.')}."
        )
    if not failure.reached:
        if failure.waited == "pool":
            return TransientError(
                f"No connection to ServiceTitan was free to {context.action} in time; nothing was sent, "
                "so it is safe to try again."
            )
        return TransientError(
            f"Could not connect to ServiceTitan ({_host(failure.url)}) to {context.action}; nothing was sent, "
            "so it is safe to try again."
        )
    what = _lost_answer(failure)
    if context.idempotent:
        return TransientError(f"{what} while trying to {context.action}; it is safe to try again.")
    return AmbiguousError(
        f"{what} after the request to {context.action} was sent, so ServiceTitan may have carried it out; "
        "check before sending it again."
    )


def _lost_answer(failure: TransportFailure) -> str:
    if failure.waited == "read":
        within = f" within {failure.seconds:g} seconds" if failure.seconds is not None else ""
        return f"ServiceTitan did not answer{within}"
    if failure.waited == "write":
        return "Sending the request to ServiceTitan timed out"
    return "The connection to ServiceTitan was lost"


def _host(url: str) -> str:
    try:
        host = urlsplit(url).hostname
    except ValueError:  # an unbalanced IPv6 bracket
        host = None
    return host or "ServiceTitan"


def _credentials_sentence(context: RequestContext) -> str:
    env = context.environment
    return (
        f"ServiceTitan rejected the client ID and secret for tenant {context.tenant_id} in the {env} "
        "environment: a client ID and secret are specific to one environment and one tenant, "
        f"so use the pair generated for this tenant in {env}."
    )


def _rate_limit_sentence(context: RequestContext, retry_after: float | None) -> str:
    seconds = math.ceil(retry_after) if retry_after is not None else None
    when = "shortly" if seconds is None else f"in {seconds} second{'' if seconds == 1 else 's'}"
    return f"ServiceTitan's rate limit was reached while trying to {context.action}; try again {when}."


def _client_error_sentence(status: int, body: ErrorBody, context: RequestContext) -> str:
    title = _title(body)
    if status in (400, 422):
        problems = _field_problems(body)
        if problems:
            return f"ServiceTitan could not {context.action} because of these fields: {problems}."
        return f"ServiceTitan could not {context.action}: {title or f'HTTP {status}'}."
    if status == 403:
        granted = (
            f"a scope or booking provider {context.booking_provider_id} is not granted to it"
            if context.booking_provider_id is not None
            else "a scope is not granted to it"
        )
        return (
            f"ServiceTitan refused to let the app {context.action} because the app lacks permission "
            f"({granted}); if the app was updated, the tenant admin may need to click "
            '"Upgrade to New Version" under Settings → Integrations → API Application Access.'
        )
    if status == 404:
        return _not_found_sentence(context)
    if status == 409:
        return f"ServiceTitan reported a conflict while trying to {context.action}: {title or 'no details'}."
    detail = f": {title}" if title else ""
    return f"ServiceTitan refused the request to {context.action} (HTTP {status}){detail}."


def _not_found_sentence(context: RequestContext) -> str:
    provider = context.booking_provider_id
    if provider is not None and context.subject is None:
        return (
            f"ServiceTitan has no booking provider {provider} for this app in tenant {context.tenant_id}, "
            f"so check the Booking Provider Value ({_BOOKING_PROVIDER_WHERE})."
        )
    if provider is not None:
        return (
            f"ServiceTitan found no {context.subject} under booking provider {provider}; if this happens "
            f"for every booking, check the Booking Provider Value ({_BOOKING_PROVIDER_WHERE})."
        )
    if context.subject is not None:
        return f"ServiceTitan found no {context.subject} in tenant {context.tenant_id}."
    return (
        f"ServiceTitan found nothing for tenant {context.tenant_id} in the {context.environment} "
        "environment: check the tenant ID and that the connection uses the right environment."
    )


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _title(body: ErrorBody) -> str | None:
    if isinstance(body, dict):
        title = body.get("title") or body.get("error_description") or body.get("error")
        if not title:
            return None
        return _one_line(title).rstrip(".") or None
    return _one_line(body)[:200] or None


def _field_errors(body: ErrorBody) -> dict[str, list[str]]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        return {}
    result: dict[str, list[str]] = {}
    for key, messages in errors.items():
        items = messages if isinstance(messages, list) else [messages]
        result[_one_line(key)] = [_one_line(message).rstrip(".") for message in items if _one_line(message)]
    return result


def _field_problems(body: ErrorBody) -> str:
    """`Label: message, message; Label: message` with ServiceTitan's field names shown as our labels."""
    return "; ".join(
        f"{field_label(key)}: {', '.join(messages) or 'invalid'}" for key, messages in _field_errors(body).items()
    )


def field_label(servicetitan_key: str) -> str:
    """The catalog label for a field name in ServiceTitan's `errors` map (`$.externalId` → External Id)."""
    key = servicetitan_key.removeprefix("$.").removeprefix("request.").casefold()
    return _LABELS_BY_KEY.get(key, servicetitan_key)


def servicetitan_text(body: ErrorBody) -> str | None:
    """ServiceTitan's own words in one line: the title, then each field's messages."""
    if body is None:
        return None
    if isinstance(body, str):
        return _one_line(body)[:_RAW_TEXT_LIMIT] or None
    parts = [part for part in (_title(body),) if part]
    parts += [f"{key}: {', '.join(messages)}" for key, messages in _field_errors(body).items()]
    return "; ".join(parts) or None


def response_body(response: Answer) -> ErrorBody:
    """The error body as ServiceTitan sent it: a JSON object, or its text when it is not one."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:_RAW_TEXT_LIMIT] or None
    return data if isinstance(data, dict) else response.text[:_RAW_TEXT_LIMIT]
