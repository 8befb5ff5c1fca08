"""ServiceTitan's published OpenAPI documents as JSON Schema, for contract tests.

The documents live outside the repository, in `shared/servicetitan/openapi/` beside the checkout (they are
ServiceTitan's, so we read them in place instead of copying them in); `REFERLOOP_ST_OPENAPI_DIR` points
elsewhere. Tests that need them carry `@needs_st_openapi` (tests/st_openapi.py): where the documents are
missing those tests are skipped with the reason (or fail, with `REFERLOOP_REQUIRE_ST_OPENAPI=1`, as CI sets),
and nothing here reads a document at import time, so every module still collects.

OpenAPI 3.0 schemas are not quite JSON Schema: `schema_for` inlines `$ref`s, turns `nullable: true` into
"or null", bounds `int32`/`int64` integers, and in strict mode forbids unknown properties on every object
that lists its properties.

    validator = official_validator("crm-v2", "Crm.V2.CreateBookingRequest")
    validator.validate(body)
    bodies = official_bodies("crm-v2", "Crm.V2.CreateBookingRequest")  # hypothesis strategy, built on first draw
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from typing import Any

import hypothesis_jsonschema
from hypothesis import strategies as st
from jsonschema import Draft7Validator, FormatChecker

from tests.st_openapi import documents_dir

_INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
# Keys that only OpenAPI understands, or that only describe (they never change what validates).
_OPENAPI_ONLY = {
    "nullable",
    "x-enumNames",
    "description",
    "example",
    "readOnly",
    "writeOnly",
    "discriminator",
}


@cache
def load_spec(name: str) -> dict[str, Any]:
    """One official document by file stem, e.g. "crm-v2", "jpm-v2", "accounting-v2"."""
    path = documents_dir() / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"ServiceTitan OpenAPI document not found: {path} (mark the test @needs_st_openapi)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def schema_for(spec: dict[str, Any], name: str, *, strict: bool = False) -> dict[str, Any]:
    """The named component schema as a self-contained draft-07 JSON Schema."""
    components = spec["components"]["schemas"]
    if name not in components:
        raise KeyError(f"no schema {name!r} in this document")
    schema = _convert(components[name], components, strict, stack=(name,))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return schema


def validator_for(spec: dict[str, Any], name: str, *, strict: bool = False) -> Draft7Validator:
    """A validator for the named schema that also checks `date-time` strings (RFC 3339)."""
    return Draft7Validator(schema_for(spec, name, strict=strict), format_checker=_FORMATS)


# jsonschema checks date-time only when the optional rfc3339-validator package is installed; it is not.
_FORMATS = FormatChecker()
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE)


@_FORMATS.checks("date-time", raises=ValueError)
def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.fullmatch(value):
        return False
    datetime.fromisoformat(value.upper())  # rejects impossible dates and times
    return True


def strategy_for(spec: dict[str, Any], name: str, *, strict: bool = False) -> st.SearchStrategy[Any]:
    """hypothesis-jsonschema's generator of instances of the named schema."""
    return hypothesis_jsonschema.from_schema(schema_for(spec, name, strict=strict))


@cache
def official_schema(document: str, name: str) -> dict[str, Any]:
    """The named schema of one official document, strict (no unknown properties)."""
    return schema_for(load_spec(document), name, strict=True)


@cache
def official_validator(document: str, name: str) -> Draft7Validator:
    """A strict validator for the named schema, read on first use."""
    return validator_for(load_spec(document), name, strict=True)


def official_bodies(document: str, name: str) -> st.SearchStrategy[Any]:
    """Instances of the named strict schema; the document is read on the first draw, not at import."""
    return st.deferred(lambda: strategy_for(load_spec(document), name, strict=True))


def _convert(node: Any, components: dict[str, Any], strict: bool, stack: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_convert(item, components, strict, stack) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref_name = node["$ref"].removeprefix("#/components/schemas/")
        if ref_name in stack:
            raise ValueError(f"recursive schema {ref_name!r} cannot be inlined")
        resolved = _convert(components[ref_name], components, strict, (*stack, ref_name))
        return _nullable(resolved) if node.get("nullable") else resolved

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _OPENAPI_ONLY:
            continue
        if key == "properties":
            out[key] = {prop: _convert(sub, components, strict, stack) for prop, sub in value.items()}
        else:
            out[key] = _convert(value, components, strict, stack)

    if out.get("type") == "integer" and out.get("format") in _INT_BOUNDS:
        low, high = _INT_BOUNDS[out["format"]]
        out.setdefault("minimum", low)
        out.setdefault("maximum", high)
    if strict and "properties" in out:
        out.setdefault("additionalProperties", False)
    return _nullable(out) if node.get("nullable") else out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}
