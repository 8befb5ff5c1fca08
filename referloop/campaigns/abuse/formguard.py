"""A honeypot field and a minimum fill time on the public forms.

Each public form carries a signed token with the time it was served and the form it belongs to, plus a field
hidden from people (the honeypot). A post is refused, before anything is validated or written, when the
honeypot is filled, the token is missing, forged, for another form or older than PUBLIC_FORM_MAX_AGE_SECONDS,
or the form came back sooner than PUBLIC_FORM_MIN_FILL_SECONDS after it was served.

A token is spent by the post that passes: its random nonce is added to the shared cache for the token's lifetime,
and a second post with it is refused, so a bot can't fetch one page and replay its token for 12 hours. A person
who goes back and sends the same page again is shown the form with a fresh token and sends it once more.

The refusal is a 400 that shows the form again, with what was typed and a fresh token, and a friendly line
("please check your details and send the form again"). We don't pretend success to the bot: a person who trips
the check (browser autofill and an instant click) would then lose their lead without knowing, and the join page
can't fake a success without inventing a referral link. Resending a few seconds later always works.

When a deployment configures a CAPTCHA (`captcha.py`), a post that passed these checks must also carry a token
the provider accepts; it is refused the same way otherwise ("Please complete the check…"), and when the provider
can't be asked, refused with "We couldn't check the form just now" (fail closed: `captcha.py` says why).
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from django import forms
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest

from referloop.campaigns.abuse import captcha
from referloop.campaigns.abuse.client import client_ip
from referloop.campaigns.models import Campaign

logger = logging.getLogger("referloop.public_forms")

TOKEN_FIELD = "form_started"
HONEYPOT_FIELD = "website"
_SALT = "referloop.campaigns.abuse.formguard"
NONCE_BYTES = 12


class FormKind(StrEnum):
    JOIN = "join"  # /c/<slug>/join/: a referrer signs up
    LEAD = "lead"  # /r/<code>/: a friend becomes a lead
    PORTAL = "portal"  # /c/<slug>/me/: a referrer asks for a sign-in link to their page (referloop/portal)


class Refusal(StrEnum):
    HONEYPOT = "honeypot filled"
    MISSING = "no timestamp field"
    FORGED = "bad timestamp signature"
    OTHER_FORM = "timestamp of another form"
    EXPIRED = "timestamp too old"
    TOO_FAST = "sent too soon after the form was served"
    CAPTCHA_FAILED = "CAPTCHA missing or not passed"
    CAPTCHA_UNAVAILABLE = "CAPTCHA could not be checked"
    REUSED = "timestamp already used"

    @property
    def message(self) -> str:
        if self is Refusal.EXPIRED:
            return "This page was open for a long time. Please check your details and send the form again."
        if self is Refusal.CAPTCHA_FAILED:
            return "Please complete the check that shows you're not a robot, then send the form again."
        if self is Refusal.REUSED:
            return "This form was sent already. If that was not you, check your details and send it again."
        if self is Refusal.CAPTCHA_UNAVAILABLE:
            return "We couldn't check the form just now. Please send it again in a moment."
        return "Please check your details and send the form again."


def _form_id(campaign: Campaign, kind: FormKind) -> str:
    return f"{kind}:{campaign.pk}"


def issue_token(campaign: Campaign, kind: FormKind, served_at: float | None = None) -> str:
    """The signed token rendered into a form served now (or at `served_at`, seconds since the epoch)."""
    served_ms = math.floor((time.time() if served_at is None else served_at) * 1000)
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    return signing.dumps({"form": _form_id(campaign, kind), "ms": served_ms, "n": nonce}, salt=_SALT)


def check_post(data: Mapping[str, Any], campaign: Campaign, kind: FormKind, now: float | None = None) -> Refusal | None:
    """Why this posted form looks like a bot's, or None for a form a person filled in."""
    if str(data.get(HONEYPOT_FIELD, "")).strip():
        return Refusal.HONEYPOT
    token = str(data.get(TOKEN_FIELD, ""))
    if not token:
        return Refusal.MISSING
    try:
        payload = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return Refusal.FORGED
    if not isinstance(payload, dict) or not isinstance(payload.get("ms"), int) or not isinstance(payload.get("n"), str):
        return Refusal.FORGED
    if payload.get("form") != _form_id(campaign, kind):
        return Refusal.OTHER_FORM
    age = (time.time() if now is None else now) - payload["ms"] / 1000
    if age < settings.PUBLIC_FORM_MIN_FILL_SECONDS:
        return Refusal.TOO_FAST
    if age > settings.PUBLIC_FORM_MAX_AGE_SECONDS:
        return Refusal.EXPIRED
    return None


def spend(data: Mapping[str, Any]) -> Refusal | None:
    """Spend the posted token (checked by `check_post`): None the first time, REUSED after. `cache.add` is atomic
    in Redis and in the database cache, so two posts racing with one token are one success and one refusal."""
    payload = signing.loads(str(data.get(TOKEN_FIELD, "")), salt=_SALT)
    key = f"form-token:{payload['n']}"
    try:
        if cache.add(key, 1, timeout=settings.PUBLIC_FORM_MAX_AGE_SECONDS):
            return None
        # The database cache also answers False when its write failed (a lock timeout): only a key that is
        # really there is a replay.
        spent = cache.get(key) is not None
    except Exception:  # the cache is down: fail open, as the rate limits do (limits.py says why)
        spent = False
    if not spent:
        logger.warning("The form-token cache failed: a %s token was let through unspent", payload.get("form"))
        return None
    return Refusal.REUSED


def log_refusal(refusal: Refusal, campaign: Campaign, kind: FormKind, client_ip: str | None) -> None:
    logger.info("refused a %s post on campaign %s from %s: %s", kind, campaign.pk, client_ip or "?", refusal)


def captcha_refusal(verdict: captcha.Verdict | None) -> Refusal | None:
    """The refusal for a CAPTCHA verdict (None: passed, or no CAPTCHA configured)."""
    if verdict is None or verdict.outcome is captcha.Outcome.PASSED:
        return None
    if verdict.outcome is captcha.Outcome.UNAVAILABLE:
        return Refusal.CAPTCHA_UNAVAILABLE
    return Refusal.CAPTCHA_FAILED


def admit_form(request: HttpRequest, form: forms.Form, campaign: Campaign, kind: FormKind) -> bool:
    """True when the posted `form` may be processed; otherwise the refusal is logged and shown on the form.

    The form is then shown again (400) with what was typed, a fresh token and `Refusal.message`. The CAPTCHA,
    when configured, is asked only about a post that passed the checks above (a bot's junk costs no verify call).
    """
    ip = client_ip(request)
    refusal = check_post(request.POST, campaign, kind)
    if refusal is None:
        refusal = captcha_refusal(captcha.check(request.POST, ip))
    if refusal is None:
        refusal = spend(request.POST)  # last: a post the bot checks refuse leaves its token unspent
    if refusal is None:
        return True
    log_refusal(refusal, campaign, kind, ip)
    form.add_error(None, refusal.message)
    return False
