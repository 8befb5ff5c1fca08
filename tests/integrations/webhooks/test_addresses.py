"""Where a webhook may go: refused at send time, before any connection, and when the endpoint is saved.

No test here sends a packet anywhere but loopback: the package's audit-hook guard (conftest.py) would refuse and
record it, and the refusal tests assert that no connection was even tried.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from referloop.campaigns.errors import InputRejected
from referloop.integrations.models import AttemptOutcome, Delivery, DeliveryState
from referloop.integrations.webhooks import service
from referloop.integrations.webhooks.events import LEAD_CREATED
from referloop.integrations.webhooks.models import WebhookEndpoint, new_secret
from referloop.providers.base import Outcome, Progress
from referloop.providers.webhooks import AddressPolicy
from referloop.providers.webhooks.addresses import address_class
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead
from tests.integrations.webhooks.conftest import Connections
from tests.integrations.webhooks.helpers import all_finished, run_until, try_once
from tests.integrations.webhooks.receiver import receiving

STRICT = AddressPolicy(allow_http=True, allow_loopback=False)
SECRET = new_secret()


@pytest.fixture
def private_dns(monkeypatch: pytest.MonkeyPatch) -> str:
    """`internal.example.test` resolves to 10.20.30.40 (DNS answered by the outermost function, the OS resolver)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "internal.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("10.20.30.40", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "internal.example.test"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:9/hooks", "127.0.0.1: it is a loopback address"),
        ("https://10.0.0.1/hooks", "10.0.0.1: it is a private network address (10.0.0.0/8)"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254: it is the cloud metadata address"),
        ("https://localhost:9/hooks", "it is a loopback address (this machine)"),
        ("https://[::ffff:192.168.1.1]/", "a private network address (192.168.0.0/16), inside the IPv6 address"),
        ("https://[fe80::1]/", "a link-local address"),
        ("https://0.0.0.0/", "the unspecified address"),
    ],
)
def test_a_refused_address_is_permanent_and_nothing_is_connected(
    url: str, words: str, connections: Connections
) -> None:
    progress = Progress()
    tried = try_once(url, (SECRET,), policy=STRICT, progress=progress)

    assert tried.outcome == Outcome.PERMANENT
    assert words in tried.sentence and tried.sentence.endswith("Nothing was sent.")
    assert connections.all() == []  # refused before any socket connected
    assert not progress.sent and tried.requests == ()


def test_a_name_that_resolves_to_a_private_address_is_refused_at_send_time(
    private_dns: str, connections: Connections
) -> None:
    tried = try_once(f"https://{private_dns}/hooks", (SECRET,), policy=STRICT)

    assert tried.outcome == Outcome.PERMANENT
    assert "internal.example.test (10.20.30.40): it is a private network address" in tried.sentence
    assert connections.all() == []


@pytest.mark.django_db(transaction=True)
def test_the_worker_refuses_at_send_time_an_endpoint_that_passed_when_it_was_saved(
    tenant: Tenant, settings: Any, monkeypatch: pytest.MonkeyPatch, connections: Connections
) -> None:
    with receiving() as receiver:
        # Saved while the name pointed at an allowed address (the receiver); by send time it points at 10.0.0.7.
        real = socket.getaddrinfo
        answers = {"hooks.example.test": "127.0.0.1"}

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host in answers:
                return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answers[host], port))]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        url = receiver.url.replace("127.0.0.1", "hooks.example.test")
        created = service.create_endpoint(tenant.account, url=url, events=[LEAD_CREATED])
        answers["hooks.example.test"] = "10.0.0.7"  # DNS rebinding after the check at save time
        add_lead(tenant.campaign, tenant.referrer)
        run_until(all_finished(created.endpoint))

    delivery = Delivery.objects.get(endpoint=created.endpoint)
    attempt = delivery.attempts.get()
    assert delivery.state == DeliveryState.FAILED and attempt.outcome == AttemptOutcome.PERMANENT
    assert "hooks.example.test (10.0.0.7): it is a private network address (10.0.0.0/8)" in attempt.sentence
    assert receiver.received == []
    assert connections.outside_loopback() == []


@pytest.mark.django_db(transaction=True)
def test_loopback_is_refused_at_send_time_once_the_setting_is_off(
    tenant: Tenant, settings: Any, connections: Connections
) -> None:
    with receiving() as receiver:
        created = service.create_endpoint(tenant.account, url=receiver.url, events=[LEAD_CREATED])
        settings.WEBHOOKS_ALLOW_LOOPBACK = False
        add_lead(tenant.campaign, tenant.referrer)
        run_until(all_finished(created.endpoint))

    attempt = Delivery.objects.get(endpoint=created.endpoint).attempts.get()
    assert attempt.outcome == AttemptOutcome.PERMANENT and "loopback" in attempt.sentence
    assert receiver.received == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://10.0.0.1/hooks", "private network address"),
        ("https://169.254.169.254/", "cloud metadata address"),
        ("https://localhost/hooks", "loopback"),
        ("http://203.0.113.9/hooks", "must use https://"),
        ("ftp://files.example/", "must start with https://"),
        ("https://user:pass@203.0.113.9/", "must not contain a user name or password"),
        ("https://no-such-host.invalid/hooks", "could not be found"),
    ],
)
def test_saving_an_endpoint_refuses_a_url_it_could_not_send_to_in_words(
    tenant: Tenant, settings: Any, url: str, problem: str
) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    settings.WEBHOOKS_ALLOW_HTTP = False
    with pytest.raises(InputRejected) as caught:
        service.create_endpoint(tenant.account, url=url, events=[LEAD_CREATED])
    assert problem in caught.value.errors["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_private_dns_is_refused_when_saving_too(private_dns: str, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    with pytest.raises(InputRejected) as caught:
        service.clean_url(f"https://{private_dns}/hooks")
    assert "(10.20.30.40): it is a private network address" in caught.value.errors["url"][0]


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.216.34"],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_class(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "fc00::1",
        "fd12::1",
        "169.254.1.1",
        "169.254.169.254",
        "fe80::1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "100.64.0.1",
        "192.0.2.1",
        "::ffff:127.0.0.1",
        "64:ff9b::a00:1",
        "2002:c0a8:0101::1",
        "fec0::1",
        "192.0.0.8",
    ],
)
def test_every_non_public_address_is_refused(address: str) -> None:
    assert address_class(ipaddress.ip_address(address)) is not None


def test_the_connection_goes_to_the_address_that_was_checked_without_asking_dns_again(
    monkeypatch: pytest.MonkeyPatch, connections: Connections
) -> None:
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        answer = "127.0.0.1" if len(lookups) == 1 else "10.0.0.7"  # a second question would get the private one
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with receiving() as receiver:
        tried = try_once(receiver.url.replace("127.0.0.1", "hooks.example.test"), (SECRET,))

    assert tried.outcome == Outcome.DELIVERED
    assert lookups == ["hooks.example.test"]
    assert connections.outside_loopback() == []
    [got] = receiver.received
    assert got.headers["host"].startswith("hooks.example.test:")
