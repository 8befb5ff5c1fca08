"""The optional CAPTCHA on the public forms (referloop/campaigns/abuse/captcha.py), against a local siteverify.

`siteverify` (tests/siteverify.py) is a real HTTP server on 127.0.0.1 (a thread, a free port) standing in for
Turnstile's and hCaptcha's siteverify: it records what it was posted and answers as the test says (pass, fail,
500, not JSON, …). The CAPTCHA settings point at it through CAPTCHA_VERIFY_URL, as a deployment's
REFERLOOP_CAPTCHA_VERIFY_URL would.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from referloop.campaigns.abuse import captcha
from referloop.campaigns.abuse.formguard import HONEYPOT_FIELD
from referloop.campaigns.models import Lead, Referrer
from tests.conftest import Tenant
from tests.public_forms import as_person
from tests.siteverify import SLOW_SECONDS, Siteverify, running_siteverify, unused_port

pytestmark = pytest.mark.django_db

SECRET = "0x-captcha-secret-4f9a2c77e1"
SITE_KEY = "site-key-3b1d"
TOKEN = "XXXX.token-from-the-widget.8c2e"
CLIENT = "203.0.113.9"
COULD_NOT_CHECK = "We couldn&#x27;t check the form just now. Please send it again in a moment."
SOLVE_IT = "Please complete the check that shows you&#x27;re not a robot, then send the form again."
PROVIDERS = ["turnstile", "hcaptcha"]
KINDS = ["lead", "join"]


# --- the CAPTCHA against the local double ------------------------------------------------------------------------


@pytest.fixture
def siteverify() -> Iterator[Siteverify]:
    with running_siteverify() as double:
        yield double


@pytest.fixture
def enable_captcha(settings: Any, siteverify: Siteverify) -> Callable[..., captcha.CaptchaConfig]:
    """`enable_captcha("hcaptcha")` configures the CAPTCHA against the double, as settings.py would from the env."""

    def enable(provider: str = "turnstile", verify_url: str | None = None) -> captcha.CaptchaConfig:
        settings.CAPTCHA_PROVIDER = provider
        settings.CAPTCHA_SITE_KEY = SITE_KEY
        settings.CAPTCHA_SECRET = SECRET
        settings.CAPTCHA_VERIFY_URL = verify_url or siteverify.url
        config = captcha.active()
        assert config is not None
        # settings.py widens the policy once, at start (checked in a fresh process below); here, by the same call.
        settings.CONTENT_SECURITY_POLICY = captcha.content_security_policy(settings.CONTENT_SECURITY_POLICY, config)
        return config

    return enable


# --- helpers -----------------------------------------------------------------------------------------------------


def url_for(tenant: Tenant, kind: str) -> str:
    if kind == "lead":
        return reverse("referral_page", args=[tenant.referrer.code])
    return reverse("referrer_join", args=[tenant.campaign.slug])


def post(tenant: Tenant, kind: str, email: str, extra: dict[str, str] | None = None, **meta: Any) -> Any:
    data = as_person(tenant.campaign, kind, {"first_name": "Casey", "email": email, **(extra or {})})
    return Client().post(url_for(tenant, kind), data, **{"REMOTE_ADDR": CLIENT, **meta})


def written(tenant: Tenant, email: str) -> bool:
    lead = Lead.objects.filter(campaign=tenant.campaign, email=email).exists()
    return lead or Referrer.objects.filter(campaign=tenant.campaign, email=email).exists()


def token_field(config: captcha.CaptchaConfig, token: str = TOKEN) -> dict[str, str]:
    return {config.provider.response_field: token}


# --- off by default ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_captcha_is_off_by_default_no_widget_no_script_no_verify_call(
    tenant: Tenant, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert captcha.active() is None
    called: list[str] = []
    monkeypatch.setattr(captcha.SiteverifyVerifier, "verify", lambda self, token, ip: called.append(token))

    page = Client().get(url_for(tenant, kind))

    html = page.content.decode()
    for marker in ("cf-turnstile", "h-captcha", "challenges.cloudflare.com", "hcaptcha.com"):
        assert marker not in html
        assert marker not in page["Content-Security-Policy"]
    response = post(tenant, kind, "off@example.com")
    assert response.status_code == 200
    assert written(tenant, "off@example.com")
    assert called == []


# --- on: the widget, the script and the CSP ----------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_configured_captcha_renders_its_widget_and_script_and_the_csp_allows_the_provider(
    tenant: Tenant, kind: str, provider: str, enable_captcha: Callable[..., captcha.CaptchaConfig]
) -> None:
    config = enable_captcha(provider)

    page = Client().get(url_for(tenant, kind))

    html = page.content.decode()
    widget_class = {"turnstile": "cf-turnstile", "hcaptcha": "h-captcha"}[provider]
    script = {
        "turnstile": "https://challenges.cloudflare.com/turnstile/v0/api.js",
        "hcaptcha": "https://js.hcaptcha.com/1/api.js",
    }[provider]
    assert f'<div class="{widget_class}" data-sitekey="{SITE_KEY}"></div>' in html
    assert f'<script src="{script}" async defer></script>' in html
    assert html.index(widget_class) < html.index('type="submit"')  # inside the form, before its button
    assert SECRET not in html
    policy = dict(part.strip().split(" ", 1) for part in page["Content-Security-Policy"].split(";") if part.strip())
    origin = {"turnstile": "https://challenges.cloudflare.com", "hcaptcha": "https://*.hcaptcha.com"}[provider]
    for directive in ("script-src", "frame-src"):
        assert origin in policy[directive].split(), directive
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]
    assert config.provider.name == provider


# --- refusals ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_post_without_a_captcha_token_is_refused_with_what_was_typed_and_writes_nothing(
    tenant: Tenant,
    kind: str,
    provider: str,
    siteverify: Siteverify,
    enable_captcha: Callable[..., captcha.CaptchaConfig],
) -> None:
    enable_captcha(provider)

    response = post(tenant, kind, "notoken@example.com")

    assert response.status_code == 400
    page = response.content.decode()
    assert SOLVE_IT in page
    assert 'value="notoken@example.com"' in page  # what was typed is kept
    assert "data-sitekey" in page  # and the widget is there to solve again
    assert not written(tenant, "notoken@example.com")
    assert siteverify.posts == []  # nothing to ask the provider about


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_token_the_provider_rejects_is_refused_and_writes_nothing(
    tenant: Tenant,
    kind: str,
    provider: str,
    siteverify: Siteverify,
    enable_captcha: Callable[..., captcha.CaptchaConfig],
) -> None:
    config = enable_captcha(provider)
    siteverify.answer = "fail"

    response = post(tenant, kind, "rejected@example.com", token_field(config))

    assert response.status_code == 400
    assert SOLVE_IT in response.content.decode()
    assert not written(tenant, "rejected@example.com")
    assert len(siteverify.posts) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_token_the_provider_accepts_lets_the_lead_or_referrer_in(
    tenant: Tenant,
    kind: str,
    provider: str,
    siteverify: Siteverify,
    enable_captcha: Callable[..., captcha.CaptchaConfig],
) -> None:
    config = enable_captcha(provider)

    response = post(tenant, kind, "person@example.com", token_field(config))

    assert response.status_code == 200
    if kind == "lead":
        assert Lead.objects.filter(campaign=tenant.campaign, email="person@example.com").exists()
    else:
        assert Referrer.objects.filter(campaign=tenant.campaign, email="person@example.com").exists()
        assert "Check your inbox" in response.content.decode()
    assert len(siteverify.posts) == 1


@pytest.mark.parametrize("answer", ["500", "garbage", "no-success", "bad-secret", "slow", "unreachable"])
@pytest.mark.parametrize("kind", KINDS)
def test_when_the_provider_cant_be_asked_the_post_is_refused_with_couldnt_check_and_writes_nothing(
    tenant: Tenant,
    kind: str,
    answer: str,
    settings: Any,
    siteverify: Siteverify,
    enable_captcha: Callable[..., captcha.CaptchaConfig],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.CAPTCHA_TIMEOUT_SECONDS = 0.3  # "slow" answers after SLOW_SECONDS
    unreachable = f"http://127.0.0.1:{unused_port()}/siteverify"
    config = enable_captcha("turnstile", verify_url=unreachable if answer == "unreachable" else None)
    siteverify.answer = answer
    caplog.set_level(logging.INFO, logger="referloop.public_forms")

    started = time.monotonic()
    response = post(tenant, kind, "unchecked@example.com", token_field(config))

    assert time.monotonic() - started < SLOW_SECONDS - 0.1  # the timeout decided, not the double
    assert response.status_code == 400
    page = response.content.decode()
    assert COULD_NOT_CHECK in page
    assert 'value="unchecked@example.com"' in page
    assert not written(tenant, "unchecked@example.com")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "referloop.public_forms"]
    assert len(warnings) == 1 and "could not check a turnstile CAPTCHA token" in warnings[0].getMessage()


def test_the_honeypot_and_fill_time_checks_come_first_and_cost_no_verify_call(
    tenant: Tenant, siteverify: Siteverify, enable_captcha: Callable[..., captcha.CaptchaConfig]
) -> None:
    config = enable_captcha("turnstile")

    response = post(tenant, "lead", "bot@example.com", {**token_field(config), HONEYPOT_FIELD: "https://spam.example"})

    assert response.status_code == 400
    assert "Please check your details and send the form again." in response.content.decode()
    assert siteverify.posts == []
    assert not written(tenant, "bot@example.com")


def test_the_other_providers_field_or_an_oversized_token_is_no_token(
    tenant: Tenant, siteverify: Siteverify, enable_captcha: Callable[..., captcha.CaptchaConfig]
) -> None:
    enable_captcha("turnstile")

    wrong_field = post(tenant, "lead", "wrongfield@example.com", {"h-captcha-response": TOKEN})
    huge = post(tenant, "lead", "huge@example.com", {"cf-turnstile-response": "x" * (captcha.MAX_TOKEN_LENGTH + 1)})

    for response in (wrong_field, huge):
        assert response.status_code == 400
        assert SOLVE_IT in response.content.decode()
    assert siteverify.posts == []
    assert not written(tenant, "wrongfield@example.com") and not written(tenant, "huge@example.com")


# --- what the provider is sent -----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", KINDS)
def test_the_provider_is_sent_the_secret_the_token_and_the_client_ip_form_encoded(
    tenant: Tenant,
    kind: str,
    provider: str,
    siteverify: Siteverify,
    enable_captcha: Callable[..., captcha.CaptchaConfig],
) -> None:
    config = enable_captcha(provider)

    post(tenant, kind, "sent@example.com", token_field(config))

    expected = {"secret": SECRET, "response": TOKEN, "remoteip": CLIENT}
    if provider == "hcaptcha":  # hCaptcha also checks the token was issued for our site key
        expected["sitekey"] = SITE_KEY
    assert siteverify.posts == [expected]
    assert siteverify.content_types == ["application/x-www-form-urlencoded"]


def test_behind_a_trusted_proxy_the_provider_is_sent_the_client_behind_it(
    tenant: Tenant, settings: Any, siteverify: Siteverify, enable_captcha: Callable[..., captcha.CaptchaConfig]
) -> None:
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_COUNT = 1
    config = enable_captcha("turnstile")

    post(
        tenant,
        "lead",
        "proxied@example.com",
        token_field(config),
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_FORWARDED_FOR="198.51.100.23",
    )

    assert [p["remoteip"] for p in siteverify.posts] == ["198.51.100.23"]


# --- logs --------------------------------------------------------------------------------------------------------


def test_neither_the_secret_nor_the_token_ever_reaches_a_log_line(
    tenant: Tenant,
    settings: Any,
    siteverify: Siteverify,
    enable_captcha: Callable[..., captcha.CaptchaConfig],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.CAPTCHA_TIMEOUT_SECONDS = 0.3
    for name in (None, "httpx", "httpcore", "referloop.public_forms", "django.request"):
        caplog.set_level(logging.DEBUG, logger=name)
    config = enable_captcha("hcaptcha")
    for n, answer in enumerate(["pass", "fail", "500", "garbage", "no-success", "bad-secret", "slow"]):
        siteverify.answer = answer
        post(tenant, "lead", f"log{n}@example.com", token_field(config), REMOTE_ADDR=f"192.0.2.{n + 1}")
    enable_captcha("hcaptcha", verify_url=f"http://127.0.0.1:{unused_port()}/siteverify")
    post(tenant, "join", "log-unreachable@example.com", token_field(config))

    assert len(siteverify.posts) == 7  # every answer above was really asked for
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    everything = caplog.text + "".join(repr(vars(record)) for record in caplog.records)
    assert SECRET not in everything
    assert TOKEN not in everything
    assert SECRET not in repr(config)


# --- configuration -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (("turnstile", "", "", ""), "REFERLOOP_CAPTCHA_SITE_KEY must be set"),
        (("hcaptcha", SITE_KEY, "", ""), "REFERLOOP_CAPTCHA_SECRET must be set"),
        (("turnstile", "", SECRET, ""), "REFERLOOP_CAPTCHA_SITE_KEY must be set"),
        (("recaptcha", SITE_KEY, SECRET, ""), "REFERLOOP_CAPTCHA_PROVIDER is 'recaptcha'"),
        (("", SITE_KEY, SECRET, ""), "REFERLOOP_CAPTCHA_PROVIDER is empty"),
        (("turnstile", SITE_KEY, SECRET, "ftp://verify.example/"), "REFERLOOP_CAPTCHA_VERIFY_URL must be"),
        (("turnstile", SITE_KEY, SECRET, "https://verify.example:port/"), "REFERLOOP_CAPTCHA_VERIFY_URL must be"),
    ],
)
def test_a_half_set_or_unknown_captcha_configuration_raises_naming_the_variable(
    values: tuple[str, str, str, str], named: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        captcha.config_from(*values)
    assert named in str(raised.value)
    assert SECRET not in str(raised.value)


def test_each_provider_defaults_to_its_documented_siteverify_url() -> None:
    turnstile = captcha.config_from("turnstile", SITE_KEY, SECRET)
    hcaptcha = captcha.config_from("HCaptcha", SITE_KEY, SECRET)
    assert turnstile is not None and hcaptcha is not None
    assert turnstile.verify_url == "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    assert hcaptcha.verify_url == "https://api.hcaptcha.com/siteverify"
    assert captcha.config_from("", "", "") is None


def run_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Start referloop's settings in a fresh process with `env`, printing the CSP's directives as JSON."""
    ours = {k for k in os.environ if k.startswith("REFERLOOP_CAPTCHA_")} | {"REFERLOOP_DEBUG", "DATABASE_URL"}
    environment = {k: v for k, v in os.environ.items() if k not in ours}
    environment.update(DJANGO_SETTINGS_MODULE="referloop.settings", REFERLOOP_VAR_DIR=str(tmp_path), **env)
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def test_referloop_refuses_to_start_with_a_half_set_captcha_naming_the_variable(tmp_path: Path) -> None:
    result = run_settings(tmp_path, REFERLOOP_CAPTCHA_PROVIDER="hcaptcha", REFERLOOP_CAPTCHA_SECRET=SECRET)
    assert result.returncode != 0
    assert "REFERLOOP_CAPTCHA_SITE_KEY must be set when REFERLOOP_CAPTCHA_PROVIDER is hcaptcha" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_in_production_the_verify_url_must_be_https(tmp_path: Path) -> None:
    result = run_settings(
        tmp_path,
        REFERLOOP_DEBUG="0",
        REFERLOOP_SECRET_KEY="x" * 60,
        REFERLOOP_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        REFERLOOP_CAPTCHA_PROVIDER="turnstile",
        REFERLOOP_CAPTCHA_SITE_KEY=SITE_KEY,
        REFERLOOP_CAPTCHA_SECRET=SECRET,
        REFERLOOP_CAPTCHA_VERIFY_URL="http://verify.example/siteverify",
    )
    assert result.returncode != 0
    assert "REFERLOOP_CAPTCHA_VERIFY_URL must be an https:// URL when REFERLOOP_DEBUG is off" in result.stderr


def test_the_csp_allows_a_provider_only_when_its_captcha_is_configured(tmp_path: Path) -> None:
    off = run_settings(tmp_path)
    turnstile = run_settings(
        tmp_path,
        REFERLOOP_CAPTCHA_PROVIDER="turnstile",
        REFERLOOP_CAPTCHA_SITE_KEY=SITE_KEY,
        REFERLOOP_CAPTCHA_SECRET=SECRET,
    )
    hcaptcha = run_settings(
        tmp_path,
        REFERLOOP_CAPTCHA_PROVIDER="hcaptcha",
        REFERLOOP_CAPTCHA_SITE_KEY=SITE_KEY,
        REFERLOOP_CAPTCHA_SECRET=SECRET,
    )
    for result in (off, turnstile, hcaptcha):
        assert result.returncode == 0, result.stderr
    off_policy, turnstile_policy, hcaptcha_policy = (json.loads(r.stdout) for r in (off, turnstile, hcaptcha))

    assert off_policy == django_settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]  # this run's: captcha off
    assert "cloudflare" not in json.dumps(off_policy) and "hcaptcha" not in json.dumps(off_policy)
    assert turnstile_policy["script-src"] == ["'self'", "https://challenges.cloudflare.com"]
    assert turnstile_policy["frame-src"] == ["'self'", "https://challenges.cloudflare.com"]
    assert "hcaptcha" not in json.dumps(turnstile_policy)
    for directive in ("script-src", "frame-src", "style-src", "connect-src"):
        assert hcaptcha_policy[directive] == ["'self'", "https://hcaptcha.com", "https://*.hcaptcha.com"], directive
    assert "cloudflare" not in json.dumps(hcaptcha_policy)
    for policy in (turnstile_policy, hcaptcha_policy):  # nothing else is widened
        for directive in ("default-src", "img-src", "object-src", "form-action", "frame-ancestors"):
            assert policy[directive] == off_policy[directive]
