"""An optional CAPTCHA on the public forms: Cloudflare Turnstile or hCaptcha, checked on our server.

Off unless a deployment sets `REFERLOOP_CAPTCHA_PROVIDER` (`turnstile` or `hcaptcha`) with that provider's
`REFERLOOP_CAPTCHA_SITE_KEY` and `REFERLOOP_CAPTCHA_SECRET`; `REFERLOOP_CAPTCHA_VERIFY_URL` overrides the
provider's siteverify address (tests point it at a local double). A provider without both keys, keys without a
provider, an unknown provider or a verify URL that isn't http(s) (https with DEBUG off: the secret is sent
there) stop referloop at start with ImproperlyConfigured naming the variable (`settings.py` calls
`config_from`). When on, the public forms render the provider's widget and load its script (the one file we
can't vendor: a CAPTCHA script is served by its provider), and settings.py widens the Content-Security-Policy by
the provider's documented origins (`Provider.csp`), only then.

A post is checked after the honeypot and fill-time checks pass (`formguard.admit_form`), so a bot's junk costs
no verify call. The widget puts its token in a form field (`cf-turnstile-response`, `h-captcha-response`); we
POST it form-encoded with the secret and the client's IP to the siteverify URL (both providers take `secret`,
`response`, `remoteip`, hCaptcha also `sitekey`, and answer JSON with `success` and `error-codes`), through the
`CaptchaVerifier` interface, with a short timeout.

Fail closed. When the provider can't be reached, times out, answers anything but JSON with a `success` flag, or
says our own request was wrong (a bad secret), the post is refused ("We couldn't check the form just now") and a
warning is logged; nothing is written. A deployment turns the CAPTCHA on because bot leads (real ServiceTitan
bookings) cost it more than a resend does; failing open would switch the protection off exactly when it can't be
checked, silently and for as long as the fault lasts (a firewall that blocks the call, a rotated secret), and a
bot would then pass by sending no token at all. Closed, a person sees a clear line, keeps what they typed and
sends again a moment later; the operator sees a warning per refusal. (The rate limits fail open on a cache
outage because the other checks still stand; a deployment that asked for a CAPTCHA asked for this one.)

Neither the secret nor the token is ever logged: log lines carry the provider, the verify URL, an HTTP status,
an exception's class or the provider's error codes.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("referloop.public_forms")

DEFAULT_TIMEOUT_SECONDS = 5.0
# Turnstile's tokens are at most 2,048 characters and hCaptcha's a few thousand: anything far longer is junk,
# refused without spending a verify call on it.
MAX_TOKEN_LENGTH = 16_384
# Error codes that mean our request was wrong (the secret, the site key) or the provider failed, not the person:
# no resend by them helps, so these count as "couldn't check" and are logged as warnings.
OPERATOR_ERROR_CODES = frozenset(
    {"missing-input-secret", "invalid-input-secret", "sitekey-secret-mismatch", "bad-request", "internal-error"}
)
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Provider:
    name: str
    verify_url: str  # the documented siteverify endpoint
    script_url: str
    widget_class: str
    response_field: str  # the form field the widget fills with its token
    csp: Mapping[str, tuple[str, ...]]  # the origins its documentation asks the page's CSP to allow
    sends_sitekey: bool  # hCaptcha's siteverify also checks the token was issued for our site key


PROVIDERS: dict[str, Provider] = {
    "turnstile": Provider(
        name="turnstile",
        verify_url="https://challenges.cloudflare.com/turnstile/v0/siteverify",
        script_url="https://challenges.cloudflare.com/turnstile/v0/api.js",
        widget_class="cf-turnstile",
        response_field="cf-turnstile-response",
        # developers.cloudflare.com/turnstile/reference/content-security-policy
        csp={
            "script-src": ("https://challenges.cloudflare.com",),
            "frame-src": ("https://challenges.cloudflare.com",),
        },
        sends_sitekey=False,
    ),
    "hcaptcha": Provider(
        name="hcaptcha",
        verify_url="https://api.hcaptcha.com/siteverify",
        script_url="https://js.hcaptcha.com/1/api.js",
        widget_class="h-captcha",
        response_field="h-captcha-response",
        # docs.hcaptcha.com, "Content Security Policy"
        csp={
            directive: ("https://hcaptcha.com", "https://*.hcaptcha.com")
            for directive in ("script-src", "frame-src", "style-src", "connect-src")
        },
        sends_sitekey=True,
    ),
}


@dataclass(frozen=True)
class CaptchaConfig:
    provider: Provider
    site_key: str
    secret: str
    verify_url: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def __repr__(self) -> str:  # never the secret, wherever a config is printed
        return f"CaptchaConfig(provider={self.provider.name!r}, site_key={self.site_key!r}, secret='[redacted]')"


def config_from(
    provider: str,
    site_key: str,
    secret: str,
    verify_url: str = "",
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    require_https: bool = False,
) -> CaptchaConfig | None:
    """The CAPTCHA these settings ask for, None when it is off; ImproperlyConfigured naming the variable."""
    provider, site_key, secret, verify_url = (value.strip() for value in (provider, site_key, secret, verify_url))
    if not provider:
        stray = [
            name
            for name, value in (
                ("REFERLOOP_CAPTCHA_SITE_KEY", site_key),
                ("REFERLOOP_CAPTCHA_SECRET", secret),
                ("REFERLOOP_CAPTCHA_VERIFY_URL", verify_url),
            )
            if value
        ]
        if stray:
            raise ImproperlyConfigured(
                f"{' and '.join(stray)} set but REFERLOOP_CAPTCHA_PROVIDER is empty: set it to "
                f"{' or '.join(PROVIDERS)} to turn the CAPTCHA on, or unset {', '.join(stray)}."
            )
        return None
    chosen = PROVIDERS.get(provider.lower())
    if chosen is None:
        raise ImproperlyConfigured(
            f"REFERLOOP_CAPTCHA_PROVIDER is {provider[:40]!r}: use {' or '.join(PROVIDERS)}, or leave it empty "
            "for no CAPTCHA."
        )
    for name, value in (("REFERLOOP_CAPTCHA_SITE_KEY", site_key), ("REFERLOOP_CAPTCHA_SECRET", secret)):
        if not value:
            raise ImproperlyConfigured(
                f"{name} must be set when REFERLOOP_CAPTCHA_PROVIDER is {chosen.name} (the site key and secret "
                "of the widget, from the provider's dashboard)."
            )
    url = verify_url or chosen.verify_url
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  (a port that isn't a number raises here)
    except ValueError:
        parts = parts._replace(scheme="")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ImproperlyConfigured("REFERLOOP_CAPTCHA_VERIFY_URL must be an http(s):// URL.")
    if require_https and parts.scheme != "https":
        raise ImproperlyConfigured(
            "REFERLOOP_CAPTCHA_VERIFY_URL must be an https:// URL when REFERLOOP_DEBUG is off: the secret is sent "
            "to it."
        )
    if timeout <= 0:
        raise ImproperlyConfigured("REFERLOOP_CAPTCHA_TIMEOUT_SECONDS must be more than 0.")
    return CaptchaConfig(provider=chosen, site_key=site_key, secret=secret, verify_url=url, timeout=timeout)


def active() -> CaptchaConfig | None:
    """The deployment's CAPTCHA from Django's settings (checked at start by settings.py), None when off."""
    return config_from(
        getattr(settings, "CAPTCHA_PROVIDER", ""),
        getattr(settings, "CAPTCHA_SITE_KEY", ""),
        getattr(settings, "CAPTCHA_SECRET", ""),
        getattr(settings, "CAPTCHA_VERIFY_URL", ""),
        timeout=float(getattr(settings, "CAPTCHA_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)),
    )


def content_security_policy(policy: dict[str, Any], config: CaptchaConfig | None) -> dict[str, Any]:
    """django-csp's CONTENT_SECURITY_POLICY with the provider's origins added; unchanged when the CAPTCHA is off."""
    if config is None:
        return policy
    widened = copy.deepcopy(policy)
    directives = widened.setdefault("DIRECTIVES", {})
    for directive, origins in config.provider.csp.items():
        sources = list(directives.get(directive) or directives.get("default-src") or ["'self'"])
        directives[directive] = sources + [origin for origin in origins if origin not in sources]
    return widened


# --- verifying a token -------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # no token, or the provider said no: the person can solve the check again
    UNAVAILABLE = "unavailable"  # no usable answer, or our own request was wrong: nothing the person can fix


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""  # for the log: error codes, an HTTP status, an exception's class; never the secret or token


class CaptchaVerifier(Protocol):
    def verify(self, token: str, remote_ip: str | None) -> Verdict:
        """What the provider says about `token`, posted from `remote_ip` (None when unknown)."""
        ...


class SiteverifyVerifier:
    """Turnstile's and hCaptcha's siteverify (the same shape for both), over httpx."""

    def __init__(self, config: CaptchaConfig) -> None:
        self.config = config

    def verify(self, token: str, remote_ip: str | None) -> Verdict:
        provider = self.config.provider
        data = {"secret": self.config.secret, "response": token}
        if remote_ip:
            data["remoteip"] = remote_ip
        if provider.sends_sitekey:
            data["sitekey"] = self.config.site_key
        try:
            # No proxies from the environment, no redirects: the secret goes to the configured address only.
            with httpx.Client(timeout=self.config.timeout, trust_env=False, follow_redirects=False) as client:
                response = client.post(self.config.verify_url, data=data, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:  # connection refused, DNS, timeout, TLS, a broken answer
            return Verdict(Outcome.UNAVAILABLE, f"no answer ({type(error).__name__})")
        if response.status_code != 200:
            return Verdict(Outcome.UNAVAILABLE, f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            return Verdict(Outcome.UNAVAILABLE, "an answer that is not JSON")
        if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
            return Verdict(Outcome.UNAVAILABLE, "JSON without a true/false success")
        codes = _error_codes(answer.get("error-codes"))
        if answer["success"]:
            return Verdict(Outcome.PASSED)
        if OPERATOR_ERROR_CODES.intersection(codes):
            return Verdict(Outcome.UNAVAILABLE, "the provider refused our request: " + ", ".join(codes))
        return Verdict(Outcome.FAILED, ", ".join(codes) or "success false")


def _error_codes(raw: object) -> list[str]:
    """The provider's error codes, only those that look like codes (a log line never carries what it echoes)."""
    if not isinstance(raw, list):
        return []
    return [code for code in raw[:10] if isinstance(code, str) and _ERROR_CODE.fullmatch(code)]


def _address(url: str) -> str:
    """`url` for a log line: scheme, host, port and path (no user info, no query)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def verifier_for(config: CaptchaConfig) -> CaptchaVerifier:
    return SiteverifyVerifier(config)


def check(data: Mapping[str, Any], remote_ip: str | None, verifier: CaptchaVerifier | None = None) -> Verdict | None:
    """The CAPTCHA's verdict on a posted form (`data`), or None when no CAPTCHA is configured.

    Logs why a post failed (info) or couldn't be checked (warning); the secret and the token never.
    """
    config = active()
    if config is None:
        return None
    token = str(data.get(config.provider.response_field, "")).strip()
    if not token:
        verdict = Verdict(Outcome.FAILED, "no token")
    elif len(token) > MAX_TOKEN_LENGTH:
        verdict = Verdict(Outcome.FAILED, f"a token of {len(token)} characters")
    else:
        verdict = (verifier or verifier_for(config)).verify(token, remote_ip or None)
    if verdict.outcome is Outcome.UNAVAILABLE:
        logger.warning(
            "could not check a %s CAPTCHA token at %s from %s: %s; the post was refused",
            config.provider.name,
            _address(config.verify_url),
            remote_ip or "?",
            verdict.reason,
        )
    elif verdict.outcome is Outcome.FAILED:
        logger.info("%s CAPTCHA failed from %s: %s", config.provider.name, remote_ip or "?", verdict.reason)
    return verdict
