"""Reading a JSON request body and checking it against a schema, with ASP.NET-style 400 answers.

Errors are keyed by the property path as the client wrote it (`externalId`, `address.city`,
`contacts[0].type`); problems with the body as a whole use `$`. A missing property is reported under its
own path, so a client can always point at the field it has to fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema import ValidationError as SchemaError
from jsonschema.validators import extend
from starlette.requests import Request

from referloop.sandbox.errors import ApiError, validation_error
from referloop.sandbox.schemas import REQUEST_SCHEMAS

_FORMATS = FormatChecker(formats=())


# RFC 3339, as the schema's `format: date-time` means: the offset is required. .NET may well accept a
# date alone or a time without offset, but then reads it in the server's zone; better the client never does.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE)


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.fullmatch(value):
        return False
    datetime.fromisoformat(value.upper())  # rejects impossible dates and times
    return True


def _is_integer(_checker: object, value: object) -> bool:
    # .NET will not bind 1.0 to a long, although JSON Schema calls it an integer.
    return isinstance(value, int) and not isinstance(value, bool)


_Validator = extend(Draft7Validator, type_checker=Draft7Validator.TYPE_CHECKER.redefine("integer", _is_integer))
_VALIDATORS = {name: _Validator(schema, format_checker=_FORMATS) for name, schema in REQUEST_SCHEMAS.items()}

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


async def read_json(request: Request) -> Any:
    """The body as JSON; 415 if it is not declared JSON, 400 if it is empty or malformed."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(415, "Unsupported Media Type", data={"contentType": content_type})
    raw = await request.body()
    if not raw.strip():
        raise validation_error({"$": ["A non-empty request body is required."]})
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise validation_error({"$": [f"The request body is not valid JSON: {exc}"]}) from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def validate(schema_name: str, body: Any) -> None:
    """Raise a 400 ApiError listing every violation of the named request schema."""
    errors = schema_errors(schema_name, body)
    if errors:
        raise validation_error(errors)


def schema_errors(schema_name: str, body: Any) -> dict[str, list[str]]:
    collected: dict[str, list[str]] = {}
    type_messages: dict[str, str] = {}
    for error in _VALIDATORS[schema_name].iter_errors(body):
        for path, message in _describe(error):
            if error.validator == "type":
                type_messages[path] = message
            elif message not in collected.setdefault(path, []):
                collected[path].append(message)
    # A value of the wrong type also fails its enum or format check; the type message alone is the useful one.
    for path, message in type_messages.items():
        collected[path] = [message]
    return dict(sorted(collected.items()))


def _describe(error: SchemaError) -> Iterable[tuple[str, str]]:
    path = error.absolute_path
    rule, expected, instance = error.validator, error.validator_value, error.instance
    if rule == "required":
        for name in expected:
            if isinstance(instance, dict) and name not in instance:
                yield _join(path, name), f"The {name} field is required."
    elif rule == "additionalProperties":
        known = error.schema.get("properties", {})
        for name in instance:
            if name not in known:
                yield _join(path, name), f"The property '{name}' is not allowed here."
    elif rule == "type":
        allowed = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in allowed)
        yield _join(path), f"The value must be {wanted}, not {_json_kind(instance)}."
    elif rule == "enum":
        choices = ", ".join(str(v) for v in expected if v is not None)
        yield _join(path), f"The value '{instance}' is not valid. Allowed values: {choices}."
    elif rule == "format":
        yield _join(path), f"The value '{instance}' is not a valid {expected}."
    elif rule in ("minimum", "maximum"):
        yield _join(path), "The value is out of range for a 64-bit integer."
    else:
        yield _join(path), error.message


def _join(path: Iterable[str | int], *more: str) -> str:
    text = ""
    for part in (*path, *more):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "$"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
