"""Each sender's failures as one TransportFailure, against real sockets on 127.0.0.1.

`reached` decides whether a create that got no answer may have made a booking, so every way a request can go
unanswered is produced for real here (a raw asyncio server that misbehaves on purpose), for both async senders
and for the sync client's edge (`send_with_httpx`), and must come out the same whichever library moved it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest

from referloop.providers.transport import (
    AiohttpSender,
    Answer,
    AsyncSender,
    HttpxSender,
    InvalidRequest,
    Outgoing,
    TransportFailure,
    send_with_httpx,
)

TIMEOUT = httpx.Timeout(connect=0.3, read=0.3, write=1.0, pool=0.3)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class SyncHttpxSender:
    """The sync client's edge (a blocking httpx.Client), on a thread so the test's server keeps serving."""

    def __init__(self, connections: int) -> None:
        self.client = httpx.Client(limits=httpx.Limits(max_connections=connections))

    async def send(self, request: Outgoing) -> Answer:
        return await asyncio.to_thread(send_with_httpx, self.client, request)

    async def aclose(self) -> None:
        self.client.close()


SENDERS: dict[str, Callable[[int], AsyncSender]] = {
    "httpx": lambda connections: HttpxSender(
        httpx.AsyncClient(limits=httpx.Limits(max_connections=connections)), owned=True
    ),
    "httpx-sync": SyncHttpxSender,
    "aiohttp": lambda connections: AiohttpSender(connections=connections),
}


@pytest.fixture(params=sorted(SENDERS))
def sender_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def create(url: str) -> Outgoing:
    """A request shaped like a booking create: a POST with a JSON body."""
    return Outgoing("POST", url, headers={"Accept": "application/json"}, timeout=TIMEOUT, json={"name": "Tom"})


def failure_of(sender_name: str, url: str) -> TransportFailure:
    async def go() -> None:
        sender = SENDERS[sender_name](4)
        try:
            await sender.send(create(url))
        finally:
            await sender.aclose()

    with pytest.raises(TransportFailure) as excinfo:
        asyncio.run(go())
    return excinfo.value


def serve_and_fail(sender_name: str, handler: Handler) -> TransportFailure:
    async def go() -> None:
        async with serving(handler) as url:
            sender = SENDERS[sender_name](4)
            try:
                await sender.send(create(url))
            finally:
                await sender.aclose()

    with pytest.raises(TransportFailure) as excinfo:
        asyncio.run(go())
    return excinfo.value


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    """A raw HTTP server on a free port of 127.0.0.1 that runs `handler` for each connection."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await handler(reader, writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/crm/v2/tenant/1/booking-provider/2/bookings"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> None:
    """Read one whole request (head and body), so what follows happens after it was sent."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)


def answer_then_close(raw: bytes = b"", *, reset: bool = False) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if raw:
            writer.write(raw)
            await writer.drain()
        if reset:  # SO_LINGER 0: close sends a RST instead of a FIN
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    return handler


@contextmanager
def port_nothing_listens_on() -> Iterator[int]:
    """A port bound but not listening: a connection to it is refused, and nothing else can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@contextmanager
def port_whose_accept_queue_is_full() -> Iterator[int]:
    """A listening port that never accepts, its queue filled: Linux drops the next SYN, so connecting hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            yield port
        finally:
            for filler in fillers:
                filler.close()


def test_nothing_listening_means_the_request_never_left(sender_name):
    with port_nothing_listens_on() as port:
        failure = failure_of(sender_name, f"http://127.0.0.1:{port}/x")
    assert type(failure) is TransportFailure
    assert (failure.reached, failure.waited, failure.seconds) == (False, None, None)
    assert failure.url == f"http://127.0.0.1:{port}/x"


def test_a_connect_that_hangs_past_the_connect_timeout_never_left(sender_name):
    with port_whose_accept_queue_is_full() as port:
        failure = failure_of(sender_name, f"http://127.0.0.1:{port}/x")
    assert (failure.reached, failure.waited) == (False, "connect")
    # aiohttp's error does not say whether its socket timeout or its pool-and-connect timeout ran out.
    assert failure.seconds == (None if sender_name == "aiohttp" else 0.3)


def test_waiting_too_long_for_a_pooled_connection_never_left(sender_name):
    """The one connection is busy with a request the server never answers; the next cannot get one."""
    accepted = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        accepted.set()
        await asyncio.sleep(3600)

    async def go() -> None:
        async with serving(never_answer) as url:
            sender = SENDERS[sender_name](1)
            slow = Outgoing("GET", url, headers={}, timeout=httpx.Timeout(5.0))
            first = asyncio.create_task(sender.send(slow))
            try:
                await accepted.wait()
                await sender.send(create(url))
            finally:
                first.cancel()
                await asyncio.gather(first, return_exceptions=True)
                await sender.aclose()

    with pytest.raises(TransportFailure) as excinfo:
        asyncio.run(go())
    failure = excinfo.value
    assert failure.reached is False
    # aiohttp has one timeout for waiting for a pooled connection and connecting, so it cannot say which ran out.
    expected = {"httpx": ("pool", 0.3), "httpx-sync": ("pool", 0.3), "aiohttp": ("connect", None)}[sender_name]
    assert (failure.waited, failure.seconds) == expected


def test_a_server_that_accepts_and_never_answers_may_have_been_reached_and_the_read_timeout_ran_out(sender_name):
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(3600)

    failure = serve_and_fail(sender_name, never_answer)
    assert type(failure) is TransportFailure
    assert (failure.reached, failure.waited, failure.seconds) == (True, "read", 0.3)


def test_a_server_that_reads_the_request_and_closes_without_answering_may_have_been_reached(sender_name):
    failure = serve_and_fail(sender_name, answer_then_close())
    assert (failure.reached, failure.waited) == (True, None)


def test_a_connection_reset_after_the_request_was_read_may_have_been_reached(sender_name):
    failure = serve_and_fail(sender_name, answer_then_close(reset=True))
    assert (failure.reached, failure.waited) == (True, None)


def test_an_answer_cut_off_before_its_body_ends_may_have_been_reached(sender_name):
    cut = b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id": 1'
    failure = serve_and_fail(sender_name, answer_then_close(cut))
    assert (failure.reached, failure.waited) == (True, None)


def test_an_answer_that_is_not_http_may_have_been_reached(sender_name):
    failure = serve_and_fail(sender_name, answer_then_close(b"HELLO\r\n\r\n"))
    assert (failure.reached, failure.waited) == (True, None)


@pytest.mark.parametrize("url", ["http://[::1/x", "ftp://127.0.0.1/x", "127.0.0.1/x"])
def test_an_invalid_url_is_an_invalid_request_that_never_left(sender_name, url):
    failure = failure_of(sender_name, url)
    assert isinstance(failure, InvalidRequest)
    assert (failure.reached, failure.waited, failure.url) == (False, None, url)


def test_the_library_exception_is_kept_as_the_cause(sender_name):
    with port_nothing_listens_on() as port:
        failure = failure_of(sender_name, f"http://127.0.0.1:{port}/x")
    assert failure.__cause__ is not None
    assert type(failure.__cause__).__module__.split(".")[0] == ("aiohttp" if sender_name == "aiohttp" else "httpx")
