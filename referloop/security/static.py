"""WhiteNoise, answering with a plain response under ASGI.

WhiteNoise serves a file as a FileResponse, a StreamingHttpResponse over a synchronous file iterator. Django's
ASGI handler can only stream that by consuming it in a thread, and warns on every static file ("StreamingHttpResponse
must consume synchronous iterators"). Our static files are small (the largest, Swagger UI's bundle, is about
1.5 MB) and cached by browsers, so reading one into a plain response is cheaper than a thread hop per chunk.
Under WSGI nothing changes.
"""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest, HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    @staticmethod
    def serve(static_file: Any, request: HttpRequest) -> HttpResponse:
        response = WhiteNoiseMiddleware.serve(static_file, request)
        if not (isinstance(request, ASGIRequest) and isinstance(response, FileResponse)):
            return response
        try:
            body = b"".join(response.streaming_content)  # type: ignore[arg-type]
        finally:
            response.close()
        plain = HttpResponse(body, status=response.status_code)
        for header, value in response.items():
            plain[header] = value
        return plain
