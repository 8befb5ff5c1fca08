"""Webhook tests: a local receiver on 127.0.0.1, loopback allowed, and a guard that no socket leaves the machine.

The guard is an audit hook on `socket.connect` (every connection Python makes, asyncio's included). While a
webhook test runs, a connection to any address that is not loopback is refused before a packet goes out (the
hook raises) and recorded, so a broken address rule fails a test instead of sending traffic to 10.0.0.1 or the
metadata address.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterator
from typing import Any

import pytest

_state: dict[str, Any] = {"armed": False, "connects": []}


def _guard(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or not _state["armed"]:
        return
    address = args[1]
    if not isinstance(address, tuple) or not address:
        return  # a Unix socket
    host = str(address[0])
    _state["connects"].append(host)
    try:
        loopback = ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise RuntimeError(f"the test tried to connect to {host}, which is not a loopback address")


sys.addaudithook(_guard)


class Connections:
    """Every address a socket connected (or tried to) during the test."""

    def all(self) -> list[str]:
        return list(_state["connects"])

    def clear(self) -> None:
        _state["connects"].clear()

    def outside_loopback(self) -> list[str]:
        outside = []
        for host in self.all():
            try:
                if not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback:
                    outside.append(host)
            except ValueError:
                outside.append(host)
        return outside


@pytest.fixture(autouse=True)
def connections(settings: Any) -> Iterator[Connections]:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True  # the receiver is on 127.0.0.1
    settings.WEBHOOKS_ALLOW_HTTP = True
    _state["connects"].clear()
    _state["armed"] = True
    try:
        yield Connections()
    finally:
        _state["armed"] = False
