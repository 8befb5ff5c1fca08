"""Run a real sandbox server for a test or a benchmark: uvicorn on a free 127.0.0.1 port in a thread.

Real HTTP matters: timeouts, hangs and dropped connections only happen on a socket.

    with running_sandbox() as sandbox:
        httpx.post(f"{sandbox.base_url}/connect/token", data={...})
        sandbox.set(error_rate=0.2)
        assert sandbox.bookings()

        mark = sandbox.mark()
        ...                                                    # the code under test polls the sandbox
        assert len(sandbox.calls(since=mark, operation="Jobs_GetList", tenant_id=1234567)) <= 3

        _, job, invoice = sandbox.book_job(booking_id, total="480.00")   # the CSR's side of a booking's life
        sandbox.set_job_status(job.id, "InProgress")
        sandbox.complete_job(job.id)
        sandbox.pay_invoice(invoice.id, amount="240.00")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import uvicorn

from referloop.sandbox.app import create_app
from referloop.sandbox.catalog import CatalogItem
from referloop.sandbox.config import DEMO_APP_KEY, DEMO_TENANT_ID, SandboxConfig
from referloop.sandbox.customers import Customer, CustomFieldType, NewContact
from referloop.sandbox.demo_data import generate_customers
from referloop.sandbox.runtime import Sandbox
from referloop.sandbox.state import (
    DEFAULT_DISMISSING_REASON_ID,
    DEFAULT_JOB_TOTAL,
    Booking,
    Invoice,
    Job,
    SandboxState,
)
from referloop.sandbox.stats import Call

_START_TIMEOUT_SECONDS = 10.0


@dataclass
class SandboxHandle:
    base_url: str
    sandbox: Sandbox

    @property
    def config(self) -> SandboxConfig:
        return self.sandbox.config

    @property
    def state(self) -> SandboxState:
        return self.sandbox.state

    def set(self, **knobs: Any) -> None:
        """Change knobs now, as PATCH /_sandbox/config would (e.g. `set(error_rate=1.0)`)."""
        self.sandbox.set_knobs(knobs)

    def bookings(self, tenant_id: int | None = None) -> list[Booking]:
        return sorted(self.state.list_bookings(tenant_id), key=lambda b: b.id)

    def jobs(self, tenant_id: int | None = None) -> list[Job]:
        return sorted(self.state.list_jobs(tenant_id), key=lambda j: j.id)

    def invoices(self, tenant_id: int | None = None) -> list[Invoice]:
        return sorted(self.state.list_invoices(tenant_id), key=lambda i: i.id)

    def stats(self) -> dict[str, Any]:
        return self.sandbox.stats.snapshot()

    # The request log: how many calls of which operation a client made since a moment of the test.

    def mark(self) -> int:
        """A point in the request log: `calls(since=mark)` lists only the calls answered after it."""
        return self.sandbox.stats.mark()

    def calls(self, since: int = 0, operation: str | None = None, tenant_id: int | None = None) -> list[Call]:
        """Calls answered after `since`, oldest first, by operation id ("Jobs_GetList", "Token", ...) and/or
        tenant; each has `.query` (as sent) and `.params`. Raises CallLogOverflow if the log (the last
        CALL_LOG_SIZE calls) no longer holds them all."""
        return self.sandbox.stats.calls(since, operation, tenant_id)

    # The CSR's side of a booking's life (the /_sandbox/ control endpoints do the same over HTTP).

    def book_job(self, booking_id: int, total: Decimal | str = DEFAULT_JOB_TOTAL) -> tuple[Booking, Job, Invoice]:
        """Book the booking into a Scheduled job with an unpaid invoice of `total`."""
        return self.state.convert_to_job(booking_id, total)

    def dismiss_booking(self, booking_id: int, reason_id: int = DEFAULT_DISMISSING_REASON_ID) -> Booking:
        return self.state.dismiss_booking(booking_id, reason_id)

    def set_job_status(
        self,
        job_id: int,
        status: str,
        *,
        total: Decimal | str | None = None,
        completed_on: datetime | None = None,
    ) -> Job:
        """Move the job to any JobStatus (Canceled included); leaving Completed clears completedOn."""
        return self.state.set_job_status(job_id, status, total=total, completed_on=completed_on)

    def complete_job(
        self, job_id: int, *, total: Decimal | str | None = None, completed_on: datetime | None = None
    ) -> Job:
        return self.state.complete_job(job_id, total=total, completed_on=completed_on)

    def set_job_total(self, job_id: int, total: Decimal | str) -> Job:
        return self.state.set_job_total(job_id, total)

    def pay_invoice(self, invoice_id: int, amount: Decimal | str | None = None) -> Invoice:
        """Pay `amount` (default: the whole balance); paidOn is set when the balance reaches 0.00."""
        return self.state.pay_invoice(invoice_id, amount)

    # Customers: the office's side (the /_sandbox/customers control endpoints do the same over HTTP).

    def customers(self, tenant_id: int = DEMO_TENANT_ID) -> list[Customer]:
        """The tenant's customers in id order (after a reset: the 30 seeded ones, with new ids)."""
        return self.state.crm.list_customers(tenant_id)

    def add_customer(
        self,
        name: str,
        *,
        emails: Sequence[str] = (),
        phones: Sequence[str] = (),
        tag_type_ids: Sequence[int] = (),
        active: bool = True,
        custom_fields: Mapping[int, str] | None = None,
        tenant_id: int = DEMO_TENANT_ID,
    ) -> Customer:
        """A new customer stamped now: exported at once with includeRecentChanges=true, else after the lag."""
        contacts = [NewContact("Email", e) for e in emails] + [NewContact("Phone", p) for p in phones]
        return self.state.crm.add_customer(
            tenant_id,
            name,
            contacts=contacts,
            tag_type_ids=tag_type_ids,
            active=active,
            custom_fields=dict(custom_fields) if custom_fields else None,
        )

    def change_customer(
        self,
        customer_id: int,
        *,
        name: str | None = None,
        active: bool | None = None,
        tag_type_ids: Sequence[int] | None = None,
        add_emails: Sequence[str] = (),
        add_phones: Sequence[str] = (),
        custom_fields: Mapping[int, str] | None = None,
    ) -> Customer:
        """Change the customer (nothing given: just touch it); bumps modifiedOn, so the export hands it out again."""
        contacts = [NewContact("Email", e) for e in add_emails] + [NewContact("Phone", p) for p in add_phones]
        return self.state.crm.change_customer(
            customer_id,
            name=name,
            active=active,
            tag_type_ids=tag_type_ids,
            custom_fields=list(custom_fields.items()) if custom_fields else None,
            add_contacts=contacts,
        )

    def seed_customers(self, count: int, *, seed: int = 1, tenant_id: int = DEMO_TENANT_ID) -> list[Customer]:
        """`count` generated customers (9 in 10 with an email), the same names and contacts for the same seed."""
        return generate_customers(self.state, tenant_id, count, seed=seed)

    def custom_field_types(self, tenant_id: int = DEMO_TENANT_ID) -> list[CustomFieldType]:
        return self.state.crm.list_field_types(tenant_id)

    def custom_field_type(self, name: str, tenant_id: int = DEMO_TENANT_ID) -> CustomFieldType:
        """The tenant's custom field type with this name ("Referral Link", "Referral Code", "Referral Count")."""
        found = [t for t in self.custom_field_types(tenant_id) if t.name == name]
        if not found:
            raise KeyError(f"no custom field type {name!r} for tenant {tenant_id}")
        return found[0]

    def customer_custom_fields(self, customer_id: int) -> dict[str, str]:
        """What a CSR sees on the customer record: {field type name: value}."""
        with self.state.lock:
            customer = self.state.crm.customer(None, customer_id)
            names = {t.id: t.name for t in self.custom_field_types(customer.tenant_id)}
            return {names.get(type_id, str(type_id)): value for type_id, value in customer.custom_fields.items()}

    # Pick lists: kind is "job_type", "business_unit" or "campaign".

    def pick_list(self, kind: str, tenant_id: int = DEMO_TENANT_ID) -> list[CatalogItem]:
        """Every item, active or not, in id order."""
        return self.state.catalog.items(kind, tenant_id)

    def add_pick_list_item(
        self, kind: str, item_id: int, name: str, *, active: bool = True, tenant_id: int = DEMO_TENANT_ID
    ) -> CatalogItem:
        return self.state.catalog.put(kind, tenant_id, item_id, name, active=active)

    def deactivate_pick_list_item(self, kind: str, item_id: int, tenant_id: int = DEMO_TENANT_ID) -> CatalogItem:
        """The item leaves the default (active-only) list; `active=Any` still finds it."""
        return self.state.catalog.set_active(kind, tenant_id, item_id, False)

    def remove_pick_list_item(self, kind: str, item_id: int, tenant_id: int = DEMO_TENANT_ID) -> CatalogItem:
        """The item is gone: a stored id that no longer exists in ServiceTitan."""
        return self.state.catalog.remove(kind, tenant_id, item_id)

    def reset(self) -> None:
        self.sandbox.reset()

    def auth_headers(self, tenant_id: int = DEMO_TENANT_ID, app_key: str = DEMO_APP_KEY) -> dict[str, str]:
        """Headers of an authenticated call, minted directly (no token request is counted or rate limited)."""
        tenant = self.config.tenant(tenant_id)
        if tenant is None:
            raise KeyError(f"no tenant {tenant_id} in this sandbox")
        token = self.sandbox.tokens.issue(tenant_id, tenant.client_id, self.config.token_lifetime_seconds)
        return {"Authorization": f"Bearer {token.value}", "ST-App-Key": app_key}


@contextmanager
def running_sandbox(config: SandboxConfig | None = None) -> Iterator[SandboxHandle]:
    """A sandbox serving real HTTP until the block ends; without a config, the demo tenant."""
    app = create_app(config)
    # Binding port 0 here (not inside uvicorn) gives the free port before the thread starts, race-free.
    # proto must say TCP: asyncio only sets TCP_NODELAY on such sockets, and without it every answer
    # waits ~40 ms on Nagle and delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=None,  # leave the host process's logging alone
            log_level="warning",
            lifespan="off",
            # Calls still in a hang are cancelled after this; they have no client left to answer.
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox:{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.01)
        yield SandboxHandle(base_url=f"http://127.0.0.1:{port}", sandbox=app.state.sandbox)
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT_SECONDS)
        sock.close()
