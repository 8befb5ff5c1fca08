"""Moving bytes: a request as plain values, what an answer must offer, and two ways to send asynchronously.

`calls` describes every request as an `Outgoing` and reads every answer through `Answer`, so the senders below
are interchangeable. The sync client and the screens use httpx. The worker sends with aiohttp: its HTTP parser
is C, and on this machine it costs about a third of httpx's CPU per request (docs/performance.md), which is
most of what a booking costs the worker. Whichever library moved the bytes, a request that got no answer comes
out as one `TransportFailure` that says whether it may have reached the server; `errors.error_from_transport`
is the one place that turns that into "safe to retry" or "look it up first".
"""

from __future__ import annotations

import json as jsonlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import aiohttp
import httpx

# Below uvicorn's (and most servers') 5 s idle timeout: a connection the server is about to close is not
# reused, so a create never goes out on a dying connection (which would make its outcome unclear).
KEEPALIVE_SECONDS = 4.0

# What httpx raises for a request without an answer. InvalidURL is raised while the request is built, before
# anything is sent; the rest are RequestError (a transport failure, an answer it could not decode).
HTTPX_FAILURES = (httpx.RequestError, httpx.InvalidURL)


class TransportFailure(Exception):
    """A request that got no answer, said the same way whichever HTTP library moved the bytes.

    `reached` is the line between a duplicate and a lost lead: False means the request never left (no
    connection, refused, a bad URL), so nothing was carried out and sending it again is safe; True means it may
    have reached the server (it timed out waiting for the answer, or the connection was cut after sending), so a
    request that creates something may have done so. `waited` names the timeout that ran out, if one did, and
    `seconds` its length, so a sentence can say how long the answer was waited for.
    """

    def __init__(
        self, message: str, *, url: str, reached: bool, waited: str | None = None, seconds: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.reached = reached
        self.waited = waited  # "connect", "pool", "read", "write" or None
        self.seconds = seconds

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, url={self.url!r}, reached={self.reached}, "
            f"waited={self.waited!r}, seconds={self.seconds!r})"
        )


class InvalidRequest(TransportFailure):
    """A request no library would send (a malformed URL, a scheme other than http and https): it never left,
    and sending it again cannot help, so it is a mistake to fix rather than a failure to retry."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message, url=url, reached=False)


@dataclass(frozen=True, slots=True)
class Outgoing:
    method: str
    url: str
    headers: Mapping[str, str]
    timeout: httpx.Timeout
    params: Mapping[str, str | int] = field(default_factory=dict)
    json: Mapping[str, object] | None = None
    form: Mapping[str, str] | None = None
    # Counts against the destination's per-key call limit (ServiceTitan's per tenant); a token request does not.
    paced: bool = True

    def to_httpx(self) -> httpx.Request:
        return httpx.Request(
            self.method,
            self.url,
            params=dict(self.params),
            json=self.json,
            data=self.form,
            headers=dict(self.headers),
            extensions={"timeout": self.timeout.as_dict()},
        )


class Answer(Protocol):
    """What `calls` and `errors` read from a response; httpx.Response has it, and so does `BufferedAnswer`."""

    @property
    def status_code(self) -> int: ...

    @property
    def is_success(self) -> bool: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class BufferedAnswer:
    """A whole response read into memory (ServiceTitan's answers are small)."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class AsyncSender(Protocol):
    async def send(self, request: Outgoing) -> Answer: ...

    async def aclose(self) -> None: ...


class HttpxSender:
    """Sends through an httpx.AsyncClient (tests pass one with a MockTransport)."""

    def __init__(self, client: httpx.AsyncClient, *, owned: bool) -> None:
        self.client = client
        self._owned = owned

    async def send(self, request: Outgoing) -> Answer:
        try:
            return await self.client.send(request.to_httpx())
        except HTTPX_FAILURES as exc:
            raise failure_from_httpx(exc, request) from exc

    async def aclose(self) -> None:
        if self._owned:
            await self.client.aclose()


class AiohttpSender:
    """One aiohttp session with a pool of `connections`; made on first use, inside the running loop."""

    def __init__(self, connections: int, keepalive_seconds: float = KEEPALIVE_SECONDS) -> None:
        self._connections = connections
        self._keepalive = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    async def send(self, request: Outgoing) -> Answer:
        session = self._session or self._open()
        try:
            async with session.request(
                request.method,
                request.url,
                params=dict(request.params) or None,
                json=request.json,
                data=request.form,
                headers=dict(request.headers),
                timeout=self._timeout(request.timeout),
                allow_redirects=False,  # as httpx: ServiceTitan's API does not redirect, so a redirect is an error
            ) as response:
                return BufferedAnswer(response.status, response.headers, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise failure_from_aiohttp(exc, request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._connections, keepalive_timeout=self._keepalive)
        self._session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
        return self._session

    def _timeout(self, timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
        key = (timeout.connect, timeout.read, timeout.pool)
        if key not in self._timeouts:
            # aiohttp's `connect` covers waiting for a pooled connection and connecting; `sock_connect` the latter.
            waiting = None if timeout.pool is None or timeout.connect is None else timeout.pool + timeout.connect
            self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, connect=waiting, sock_connect=timeout.connect, sock_read=timeout.read
            )
        return self._timeouts[key]


def send_with_httpx(client: httpx.Client, request: Outgoing) -> httpx.Response:
    """Send with a blocking httpx.Client, failing as the async senders do."""
    try:
        return client.send(request.to_httpx())
    except HTTPX_FAILURES as exc:
        raise failure_from_httpx(exc, request) from exc


def failure_from_httpx(exc: httpx.RequestError | httpx.InvalidURL, request: Outgoing) -> TransportFailure:
    """httpx's exception as a TransportFailure: httpx names each phase, so its type says whether it was sent."""
    message = str(exc) or type(exc).__name__
    timeout = request.timeout
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return InvalidRequest(message, url=request.url)
    if isinstance(exc, httpx.PoolTimeout):
        return TransportFailure(message, url=request.url, reached=False, waited="pool", seconds=timeout.pool)
    if isinstance(exc, httpx.ConnectTimeout):
        return TransportFailure(message, url=request.url, reached=False, waited="connect", seconds=timeout.connect)
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):  # refused, DNS, TLS handshake, proxy refused
        return TransportFailure(message, url=request.url, reached=False)
    if isinstance(exc, httpx.ReadTimeout):
        return TransportFailure(message, url=request.url, reached=True, waited="read", seconds=timeout.read)
    if isinstance(exc, httpx.WriteTimeout):  # part of the request may have gone out
        return TransportFailure(message, url=request.url, reached=True, waited="write", seconds=timeout.write)
    # ReadError, WriteError, RemoteProtocolError (disconnected without an answer, a broken or cut-off answer),
    # DecodingError: the request went out, so it may have been carried out.
    return TransportFailure(message, url=request.url, reached=True)


def failure_from_aiohttp(exc: aiohttp.ClientError | TimeoutError, request: Outgoing) -> TransportFailure:
    """aiohttp's exception as a TransportFailure.

    Only connecting is reported apart (ClientConnectorError and its DNS, TLS and proxy kinds, and the connect
    timeout); everything after the connection was made (disconnected, reset, a broken or cut-off answer, the
    read timeout) may follow a request that was sent. aiohttp's connect timeout also covers waiting for a
    pooled connection (`AiohttpSender._timeout`) and its error does not say which ran out, so both are reported
    as the connect timeout, without seconds: either way nothing was sent. A bare ClientConnectionError is taken
    as reached: aiohttp raises it both for a closed connector (at shutdown) and for a connection closed while
    the answer was read.
    """
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return InvalidRequest(message, url=request.url)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # how long it waited depends on which ran out: unsaid
        return TransportFailure(message, url=request.url, reached=False, waited="connect")
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerFingerprintMismatch | aiohttp.ClientHttpProxyError):
        return TransportFailure(message, url=request.url, reached=False)
    if isinstance(exc, TimeoutError):  # SocketTimeoutError: sent, and no answer within sock_read
        return TransportFailure(message, url=request.url, reached=True, waited="read", seconds=request.timeout.read)
    return TransportFailure(message, url=request.url, reached=True)


MAX_RETRY_AFTER_SECONDS = 24 * 3600.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header given as seconds or as an HTTP-date; None when absent or unreadable.

    Capped at a day: a destination's answer must not be able to park a row (or, by overflowing a date, stop
    the worker from writing results) beyond the engine's own 24-hour retry window.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:  # RFC 9110 dates are GMT; a malformed one may lack the zone
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
