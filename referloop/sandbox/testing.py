"""Run a real sandbox server for a test or a benchmark: uvicorn on a free 127.0.0.1 port in a thread.

Real HTTP matters: timeouts, hangs and dropped connections only happen on a socket.

    with running_sandbox() as sandbox:
        httpx.post(f"{sandbox.base_url}/connect/token", data={...})
        sandbox.set(error_rate=0.2)
        assert sandbox.bookings()
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from referloop.sandbox.app import create_app
from referloop.sandbox.config import DEMO_APP_KEY, DEMO_TENANT_ID, SandboxConfig
from referloop.sandbox.runtime import Sandbox
from referloop.sandbox.state import Booking, SandboxState

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

    def stats(self) -> dict[str, Any]:
        return self.sandbox.stats.snapshot()

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
