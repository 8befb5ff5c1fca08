"""Refuse a NUL character anywhere in the path, the query string or a form field, with 400, before any view;
drop a cookie that holds one.

Why here and not per field: PostgreSQL cannot store or even compare text with a NUL (psycopg raises DataError,
a 500) while SQLite accepts it, so every text that can reach a query (a path segment such as a referral code,
a search box, a form field) would need its own check, and one forgotten field is a 500 on one database only.
No legitimate URL or form value holds a NUL, so one check at the door answers the same on both databases.
The REST API is left to its own validation, which names the offending field in its JSON error shape.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict

NUL = "\x00"
MESSAGE = "Bad request: the address or the form contains a NUL character, which is never valid here.\n"
API_PREFIX = "/api/"


def _has_nul(data: QueryDict) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in data.lists())


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # A cookie with a NUL (planted by a sibling subdomain, say) is dropped, not refused: refusing would lock
        # the person out of every page until the cookie expires. Without it the session reads as absent.
        request.COOKIES = {name: value for name, value in request.COOKIES.items() if NUL not in name + value}
        if not request.path.startswith(API_PREFIX) and self.has_nul(request):
            return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def has_nul(request: HttpRequest) -> bool:
        if NUL in request.path or _has_nul(request.GET):
            return True
        form_types = ("application/x-www-form-urlencoded", "multipart/form-data")
        # Only form posts are parsed here (CSRF middleware parses them next anyway); file contents are not
        # looked at: an upload's own validation (the CSV import) decides what bytes it accepts.
        return request.method == "POST" and request.content_type in form_types and _has_nul(request.POST)
