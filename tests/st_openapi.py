"""Where ServiceTitan's published OpenAPI documents are, and what a test that needs them does without them.

Kept apart from `servicetitan_contract` so the conftest hook that uses it imports no hypothesis at start-up.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
# Every document a contract test reads; all must be present for any of them to run.
DOCUMENTS = ("crm-v2", "jpm-v2", "accounting-v2", "settings-v2", "marketing-v2")
needs_st_openapi = pytest.mark.st_openapi


def documents_dir() -> Path:
    configured = os.environ.get("REFERLOOP_ST_OPENAPI_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    return REPOSITORY.parent / "shared" / "servicetitan" / "openapi"


def missing_document() -> Path | None:
    """The first official document that is not where the contract tests look, or None when all are there."""
    return next((path for name in DOCUMENTS if not (path := documents_dir() / f"{name}.json").is_file()), None)


def require_documents() -> None:
    """Skips the calling test when a document is missing, or fails it when REFERLOOP_REQUIRE_ST_OPENAPI=1."""
    missing = missing_document()
    if missing is None:
        return
    reason = (
        f"ServiceTitan's OpenAPI document {missing} is missing: these contract tests need ServiceTitan's "
        "published documents (crm-v2, jpm-v2, accounting-v2 .json); put them there or set REFERLOOP_ST_OPENAPI_DIR"
    )
    if os.environ.get("REFERLOOP_REQUIRE_ST_OPENAPI") == "1":
        pytest.fail(f"{reason} (REFERLOOP_REQUIRE_ST_OPENAPI=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)
