"""The known-customer contacts copy in tests: ServiceTitan refusing its export, as a tenant whose app lacks a scope."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from referloop.sandbox.api import customers as sandbox_customers
from referloop.sandbox.errors import ApiError
from referloop.sandbox.export import ExportRequest
from referloop.sandbox.pipeline import ApiCall

REFUSAL = "The application does not have access to this endpoint: the Customers scope is not granted."


@contextmanager
def contacts_export_refused(monkeypatch: pytest.MonkeyPatch, status: int = 403) -> Iterator[None]:
    """The sandbox answers the contacts export with `status` (403: the app lacks the scope) until the block ends."""
    original = sandbox_customers._export_request

    def refuse(call: ApiCall) -> ExportRequest:
        if call.request.url.path.endswith("/export/customers/contacts"):
            raise ApiError(status, REFUSAL if status == 403 else "The service is temporarily unavailable.")
        return original(call)

    with monkeypatch.context() as patched:
        patched.setattr(sandbox_customers, "_export_request", refuse)
        yield
