"""The answer to an unhandled error (`handler500`). The database unreachable or locked for too long (a restart, a
failover, a long SQLite write) is not a bug: it is a 503 with Retry-After, which load balancers and API clients
know to retry, on a page that needs no database. The API answers its own JSON error shape either way."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults

RETRY_AFTER_SECONDS = 10
API_PREFIX = "/api/"


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this while it handles the exception, so it is still the one being handled.
    unavailable = isinstance(sys.exc_info()[1], OperationalError | InterfaceError)
    if request.path.startswith(API_PREFIX):
        if unavailable:
            message = "referloop is briefly unavailable; nothing was saved. Try again in a few seconds."
        else:
            message = "Something went wrong on our side; nothing was saved. Try again, or contact support."
        response: HttpResponse = JsonResponse(
            {"message": message, "errors": {"service": [message]}}, status=503 if unavailable else 500
        )
    elif unavailable:
        # No request context: context processors would ask the database for the user.
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    else:
        return defaults.server_error(request)
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
