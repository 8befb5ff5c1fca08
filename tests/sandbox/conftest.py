"""One real sandbox server for the whole session, reset to the demo config before each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from referloop.sandbox import SandboxConfig
from referloop.sandbox.testing import SandboxHandle, running_sandbox
from tests.sandbox.helpers import api_headers


@pytest.fixture(scope="session")
def _server() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig.demo()) as handle:
        yield handle


@pytest.fixture
def sandbox(_server: SandboxHandle) -> SandboxHandle:
    demo = SandboxConfig.demo()
    _server.set(**demo.knobs())
    _server.config.tenants = demo.tenants
    _server.reset()
    return _server


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, timeout=5.0) as http:
        yield http


@pytest.fixture
def headers(client: httpx.Client) -> dict[str, str]:
    return api_headers(client)
