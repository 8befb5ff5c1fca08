"""Outbound webhooks as a delivery-engine connector: one event becomes one signed POST (Standard Webhooks).

A try serializes the event once, signs those bytes and sends those same bytes, with the `webhook-id` (the
event's id: the same on every try, so receivers can drop duplicates), `webhook-timestamp` and
`webhook-signature` headers (HMAC-SHA256 with each valid `whsec_` secret: two signatures while a rotated-out
secret is still valid). There is no lookup that could settle an unclear try, and none is needed: the next try
simply sends the event again with the same id and body, and a fresh timestamp and signature.

Where it may go is decided at send time, not only when the URL was saved: the host is resolved once per try,
every address is checked (`addresses.py`), and the connection is made to the checked addresses only (a
`PinnedResolver`), so a DNS answer that changes between the check and the connection can't redirect it.

Each try has its own aiohttp session with one connection. The engine's shared, paced pool is not used: it
resolves names itself (it would reopen the rebinding hole) and the Connector protocol has no hook to close a
pool of our own. The claim already spaces an endpoint's tries at the engine's rate (`Delivery.rate_key` is
`webhook:<endpoint id>`), and webhook traffic is far below the point where a handshake per try matters.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks import Webhook

from referloop.providers.base import Outcome, Progress, Tried
from referloop.providers.transport import (
    AsyncSender,
    InvalidRequest,
    Outgoing,
    TransportFailure,
    failure_from_aiohttp,
    parse_retry_after,
)

from .addresses import AddressPolicy, AddressRefused, LookupFailed, Resolved, Target, resolve

NAME = "webhook"
USER_AGENT = "referloop-webhooks/1.0"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
RESPONSE_EXCERPT = 1000  # characters of the receiver's answer kept on the Attempt
_READ_LIMIT = 16 * 1024  # bytes of the answer read at most: an endless body must not hold the try
SENT_AGAIN = "it will be sent again with the same webhook-id, so the receiver can drop a duplicate."


@dataclass(frozen=True)
class Destination:
    """One endpoint as a claim carries it. `secrets`: every secret valid now, the current one first."""

    endpoint_id: int
    url: str
    secrets: tuple[str, ...] = field(repr=False)
    policy: AddressPolicy = field(default_factory=AddressPolicy)


def serialize(body: Mapping[str, object]) -> str:
    """The event body as sent and signed: compact JSON, made once per try."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, text: str) -> str:
    """`v1,<sig>` per secret, space-separated: a receiver holding either secret can verify the event."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return " ".join(Webhook(secret).sign(msg_id, moment, text) for secret in secrets)


class PinnedResolver(AbstractResolver):
    """Answers aiohttp's lookup with the addresses that were checked, and nothing else: no second DNS query."""

    def __init__(self, addresses: Sequence[Resolved]) -> None:
        self.addresses = list(addresses)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found: list[ResolveResult] = [
            {
                "hostname": host,
                "host": item.address,
                "port": port or item.port,
                "family": item.family,
                "proto": socket.IPPROTO_TCP,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for item in self.addresses
            if item.host == host and family in (socket.AF_UNSPEC, item.family)
        ]
        if not found:  # a host other than the one checked (a redirect is never followed; belt and braces)
            raise OSError(f"{host} was not checked for this try")
        return found

    async def close(self) -> None:
        pass


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    text: str


class WebhookConnector:
    name = NAME
    label = "the webhook endpoint"

    def __init__(
        self,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.clock = clock

    @classmethod
    def with_timeout(cls, timeout: httpx.Timeout | None) -> WebhookConnector:
        """The worker's per-request timeout, when it sets one (tests shorten it); else the short defaults."""
        if timeout is None:
            return cls()
        return cls(connect_timeout=timeout.connect or CONNECT_TIMEOUT, read_timeout=timeout.read or READ_TIMEOUT)

    def calls_per_try(self, settle_first: bool, payload: Mapping[str, object] | None = None) -> int:
        return 1

    async def deliver(
        self,
        destination: Any,
        payload: Mapping[str, object],
        *,
        settle_first: bool,
        sender: AsyncSender,
        progress: Progress,
    ) -> Tried:
        """`payload`: {"id": the event id, "body": the event}. `sender` is not used (see the module's docstring)."""
        assert isinstance(destination, Destination)
        msg_id = str(payload["id"])
        body = payload["body"]
        assert isinstance(body, Mapping)
        text = serialize(body)
        context: dict[str, object] = {"endpoint_id": destination.endpoint_id, "url": destination.url}
        try:
            target, checked = await resolve(destination.url, destination.policy)
        except AddressRefused as exc:
            return Tried(Outcome.PERMANENT, f"{exc.message} Nothing was sent.", external_id=msg_id, context=context)
        except LookupFailed as exc:
            return Tried(
                Outcome.TRANSIENT,
                f"{exc.message} Nothing was sent; it will be tried again.",
                external_id=msg_id,
                context=context,
            )
        timestamp = int(self.clock())
        signed = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(destination.secrets, msg_id, timestamp, text),
        }
        headers = {**signed, "Content-Type": "application/json", "User-Agent": USER_AGENT}
        sent = ({"method": "POST", "url": target.url, "headers": headers, "body": body},)
        context["addresses"] = [item.address for item in checked]  # the only ones it may connect to
        progress.sent = True
        try:
            answer = await self._post(target, checked, headers, text.encode("utf-8"))
        except TransportFailure as failure:
            return _no_answer(failure, msg_id, sent, context)
        return _judged(answer, msg_id, sent, context, self.clock())

    def unanswered(self, what: str, *, sent: bool, settle_first: bool) -> Tried:
        what = what[:1].upper() + what[1:]
        if sent:
            return Tried(Outcome.AMBIGUOUS, f"{what} after the event was sent; {SENT_AGAIN}")
        return Tried(Outcome.TRANSIENT, f"{what} before the event was sent; it will be tried again.")

    async def _post(
        self, target: Target, checked: Sequence[Resolved], headers: Mapping[str, str], data: bytes
    ) -> _Answer:
        connector = aiohttp.TCPConnector(
            resolver=PinnedResolver(checked), use_dns_cache=False, force_close=True, limit=1
        )
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.connect_timeout, sock_connect=self.connect_timeout, sock_read=self.read_timeout
        )
        try:
            async with (
                aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session,
                session.post(target.url, data=data, headers=dict(headers), allow_redirects=False) as response,
            ):
                content = await _read_some(response.content, _READ_LIMIT)
                return _Answer(
                    status=response.status,
                    headers=dict(response.headers),
                    text=content.decode("utf-8", errors="replace")[:RESPONSE_EXCERPT],
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The transport's one rule for "may it have reached the server?", whichever code moved the bytes.
            raise failure_from_aiohttp(exc, self._outgoing(target, headers)) from exc

    def _outgoing(self, target: Target, headers: Mapping[str, str]) -> Outgoing:
        timeout = httpx.Timeout(self.read_timeout, connect=self.connect_timeout)
        return Outgoing(method="POST", url=target.url, headers=headers, timeout=timeout)


async def _read_some(stream: aiohttp.StreamReader, limit: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < limit:
        chunk = await stream.read(limit - len(chunks))
        if not chunk:
            break
        chunks += chunk
    return bytes(chunks)


def _no_answer(
    failure: TransportFailure, msg_id: str, sent: tuple[Mapping[str, object], ...], context: Mapping[str, object]
) -> Tried:
    values: dict[str, Any] = {"external_id": msg_id, "requests": sent, "context": context}
    if isinstance(failure, InvalidRequest):
        return Tried(Outcome.PERMANENT, f"The URL can't be sent to ({failure.message}): fix it, then resend.", **values)
    if failure.waited == "read":
        return Tried(
            Outcome.AMBIGUOUS,
            f"The endpoint did not answer within {failure.seconds or READ_TIMEOUT:g} seconds after the event was "
            f"sent; {SENT_AGAIN}",
            **values,
        )
    if failure.reached:
        return Tried(
            Outcome.AMBIGUOUS,
            f"The connection broke after the event was sent, before an answer ({failure.message}); {SENT_AGAIN}",
            **values,
        )
    if failure.waited == "connect":
        return Tried(Outcome.TRANSIENT, "Could not connect to the endpoint in time. It will be tried again.", **values)
    return Tried(
        Outcome.TRANSIENT, f"Could not connect to the endpoint ({failure.message}). It will be tried again.", **values
    )


def _status_words(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _judged(
    answer: _Answer,
    msg_id: str,
    sent: tuple[Mapping[str, object], ...],
    context: Mapping[str, object],
    now: float,
) -> Tried:
    status = answer.status
    said = f"The endpoint answered {_status_words(status)}"
    values: dict[str, Any] = {
        "external_id": msg_id,
        "response_status": status,
        "response_text": answer.text,
        "requests": sent,
        "context": context,
    }
    if 200 <= status < 300:
        return Tried(Outcome.DELIVERED, f"{said}: delivered.", **values)
    retry_after = parse_retry_after(_header(answer.headers, "Retry-After"), datetime.fromtimestamp(now, UTC))
    if status == 429 or status == 408 or status >= 500:
        when = f"in {retry_after:g} seconds, as it asked" if retry_after is not None else "on the retry schedule"
        return Tried(
            Outcome.TRANSIENT,
            f"{said}; it will be tried again {when}.",
            retry_after=retry_after,
            # It said when: pause the endpoint's other events too. Without a Retry-After, the usual backoff.
            rate_limited=status == 429 and retry_after is not None,
            **values,
        )
    if status == 410:
        return Tried(Outcome.PERMANENT, f"{said}: it no longer wants these events, so it is not retried.", **values)
    # Anything else is retried on the schedule, as the Standard Webhooks spec asks: a receiver that answers 404 or
    # 401 while it is being redeployed must not lose the event. Five days of failures disable the endpoint.
    if 300 <= status < 400:
        location = _header(answer.headers, "Location") or "another address"
        return Tried(
            Outcome.TRANSIENT,
            f"{said}, a redirect to {location}. referloop does not follow redirects (the new address is not "
            "checked): set the endpoint's URL to the final address. It will be tried again.",
            **values,
        )
    if 400 <= status < 500:
        return Tried(
            Outcome.TRANSIENT,
            f"{said}: it refused the event. Fix the receiver; it will be tried again on the retry schedule.",
            **values,
        )
    return Tried(Outcome.TRANSIENT, f"{said}; it will be tried again.", **values)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)
