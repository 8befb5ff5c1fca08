"""A logging filter that removes credentials from every record, whatever library wrote it.

django-ninja logs a non-Bearer Authorization header whole when DEBUG is on ("Unexpected auth - 'Basic rl_…'"),
and a library may add such a line tomorrow. The API's own authentication no longer lets ninja see such a header
(referloop/api.py); this filter is the second line, on every handler, in every mode.
"""

from __future__ import annotations

import logging
import re

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
]


def redact(text: str) -> str:
    for pattern in PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


class RedactCredentials(logging.Filter):
    """Rewrites a record's message (arguments merged) with credentials replaced by "[redacted]"."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
