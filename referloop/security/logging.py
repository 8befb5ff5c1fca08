"""A logging filter that removes credentials from every record, whatever library wrote it.

django-ninja logs a non-Bearer Authorization header whole when DEBUG is on ("Unexpected auth - 'Basic rl_…'"),
and a library may add such a line tomorrow. The API's own authentication no longer lets ninja see such a header
(referloop/api.py); this filter is the second line, on every handler, in every mode.

A record carries text in four places, and each is cleaned: the message (its arguments merged in), the arguments
themselves (for a handler that reads them, or a message that doesn't format), the traceback of `exc_info`
(formatted here and stored as `exc_text`, which every logging.Formatter prints instead of formatting its own:
an exception's message is often a library's echo of a request, headers and form fields included) and
`stack_info`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

PATTERNS = [
    # "Unexpected auth - 'anything'": ninja's line quotes the whole header value.
    re.compile(r"(?i)(unexpected auth\s*-\s*)'[^']*'"),
    # "Authorization: <anything>" or "authorization=<anything>" up to the end of the value.
    re.compile(r"(?i)(\bauthorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,;}]+"),
    # A scheme and its credentials: "Basic dXNlcjpw", "Bearer rl_…", "Token abc".
    re.compile(r"(?i)(\b(?:basic|bearer|token|digest)\s+)[A-Za-z0-9._~+/=:-]{4,}"),
    # A referloop API key on its own.
    re.compile(r"()\brl_[A-Za-z0-9_-]{8,}"),
    # A secret by its name, as a form field, query parameter, dict entry or keyword: "client_secret=…",
    # "password: …", "{'new_password1': '…'}", "EMAIL_HOST_PASSWORD='…'", "access_token=…". A quoted value is
    # removed whole, spaces included; an unquoted one up to a separator.
    re.compile(
        r"(?i)(\b\w*(?:password|passwd|passphrase|secret|access_token|refresh_token|api_?key)\w*['\"]?\s*[:=]\s*)"
        r"(?!\[redacted\])(?:'[^'\r\n]*'|\"[^\"\r\n]*\"|[^'\"\s&,;)}\]]+)"
    ),
]


def redact(text: str) -> str:
    for pattern in PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


def _clean(value: Any) -> Any:
    """An argument with its credentials removed: a string redacted, any other object replaced by its redacted text
    if its text holds a credential, else kept as it is (a number stays a number for "%d")."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value
    try:
        text = str(value)
    except Exception:  # an object that can't say what it is holds nothing we could print either
        return value
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def _clean_args(args: Any) -> Any:
    if isinstance(args, Mapping):
        return {key: _clean(value) for key, value in args.items()}
    if isinstance(args, tuple):
        return tuple(_clean(value) for value in args)
    return _clean(args)


class RedactCredentials(logging.Filter):
    """Rewrites a record's message, arguments, traceback and stack with credentials replaced by "[redacted]"."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message: str | None = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: the handler reports msg and args as they are
            message = None
        if message is not None:
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = _clean_args(record.args)
        if record.exc_info and not record.exc_text:
            # What Formatter.format() would print, cleaned; it prints exc_text rather than format exc_info again.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
