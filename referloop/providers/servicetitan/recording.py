"""What a try's attempt row shows of the requests it made: each API request as it went out."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from ..transport import Answer, AsyncSender, Outgoing


class RequestRecorder:
    """Keeps each API request as it went out (method, path, query, body): never a header, never a token call."""

    def __init__(self, inner: AsyncSender) -> None:
        self.inner = inner
        self.sent: list[Mapping[str, object]] = []

    async def send(self, request: Outgoing) -> Answer:
        if request.paced:  # token requests carry the client secret in their form: never kept
            entry: dict[str, object] = {"method": request.method, "path": urlsplit(request.url).path}
            if request.params:
                entry["params"] = dict(request.params)
            if request.json is not None:
                entry["body"] = request.json
            self.sent.append(entry)
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
