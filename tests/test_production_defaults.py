"""Production defaults: no credentials in logs, deploy checks, CSP and HSTS, favicon, static files under ASGI,
and `serve` starting no sandbox with DEBUG off. (Startup refusals are in tests/test_settings.py: a process each.)"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import Tags, run_checks
from django.core.handlers.asgi import ASGIHandler
from django.core.management import call_command
from django.test import Client

from referloop.runtime.management.commands import serve
from referloop.runtime.supervisor import ProcessSpec
from referloop.security.logging import RedactCredentials
from tests.conftest import Tenant

TEMPLATES = Path(__file__).resolve().parents[1] / "referloop" / "templates"


# -- credentials never in a log --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["Basic rl_4Qz3SecretApiKeyValue", "garbage-credential-value-123", "Token abc123456"]
)
def test_a_non_bearer_authorization_header_never_reaches_a_log_record(
    db: None, settings: Any, caplog: pytest.LogCaptureFixture, header: str
) -> None:
    settings.DEBUG = True  # ninja logged the header whole only with DEBUG on
    with caplog.at_level(logging.DEBUG):
        response = Client().get("/api/v1/leads", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    secret = header.split()[-1]
    logged = [record.getMessage() for record in caplog.records]
    assert logged, "expected at least the 401 warning to be logged"
    assert not [line for line in logged if secret in line]


def test_the_log_handlers_redact_credentials_whoever_logs_them() -> None:
    handlers = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactCredentials) for f in h.filters)]
    assert handlers, "the console handler must carry the RedactCredentials filter (settings.LOGGING)"
    lines = {
        "Unexpected auth - '%s'": ("Basic dXNlcjpzZWNyZXQ=",),
        "headers: {'Authorization': '%s'}": ("Bearer rl_abcdefghijklmnop",),
        "key %s was used": ("rl_abcdefghijklmnop",),
    }
    for message, args in lines.items():
        record = logging.LogRecord("lib", logging.ERROR, __file__, 1, message, args, None)
        handlers[0].filter(record)
        assert args[0] not in record.getMessage()
        assert "[redacted]" in record.getMessage()


# -- deploy checks ---------------------------------------------------------------------------------------------


def deploy_warnings() -> set[str]:
    return {
        message.id
        for message in run_checks(include_deployment_checks=True, tags=[Tags.security])
        if message.id and message.id.startswith("referloop.")
    }


def test_check_deploy_warns_about_each_development_setting(settings: Any) -> None:
    settings.SERVICETITAN_ALLOW_SANDBOX = True
    settings.SECRET_KEY = "short"
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    settings.FIELD_ENCRYPTION_KEY = ""
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "referloop.campaigns.abuse.cache.DatabaseCache", "LOCATION": "t"}}
    assert deploy_warnings() == {f"referloop.W00{n}" for n in range(1, 6)}


def test_check_deploy_is_quiet_for_a_production_configuration(settings: Any) -> None:
    settings.SERVICETITAN_ALLOW_SANDBOX = False
    settings.SECRET_KEY = "k4Jq9-" * 10
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.FIELD_ENCRYPTION_KEY = "x" * 44
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": REDIS_CACHE, "LOCATION": "redis://127.0.0.1:6379/0"}}
    assert deploy_warnings() == set()


REDIS_CACHE = "referloop.runtime.redis_cache.RedisCache"


@pytest.mark.parametrize(
    "backend",
    [
        "referloop.campaigns.abuse.cache.DatabaseCache",  # the embedded default
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.locmem.LocMemCache",
    ],
)
def test_check_deploy_warns_when_the_rate_limits_count_in_a_cache_that_culls_or_isnt_shared(
    settings: Any, backend: str
) -> None:
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "referloop_cache"}}
    [warning] = [m for m in run_checks(include_deployment_checks=True) if m.id == "referloop.W005"]
    assert "REFERLOOP_CACHE_URL" in str(warning.hint) and "Redis" in str(warning.hint)


def test_the_cache_check_is_quiet_with_debug_on_or_with_redis(settings: Any) -> None:
    settings.DEBUG = True
    assert "referloop.W005" not in deploy_warnings()
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": REDIS_CACHE, "LOCATION": "redis://127.0.0.1:6379/0"}}
    assert "referloop.W005" not in deploy_warnings()


def test_check_deploy_warns_when_the_proxy_header_is_believed_from_any_peer(settings: Any) -> None:
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXY_NETWORKS = []
    assert "referloop.W006" in deploy_warnings()

    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert "referloop.W006" not in deploy_warnings()


def test_the_database_cache_keeps_a_busy_days_counters() -> None:
    from referloop.settings import DATABASE_CACHE_MAX_ENTRIES, cache_settings

    assert cache_settings("")["OPTIONS"]["MAX_ENTRIES"] == DATABASE_CACHE_MAX_ENTRIES >= 200_000


# -- serve and the sandbox -------------------------------------------------------------------------------------


class Recorder:
    """Stands in for the process supervisor: records what `serve` would start, starts nothing."""

    started: list[str] = []

    def __init__(self, specs: list[ProcessSpec]) -> None:
        Recorder.started = [spec.name for spec in specs]

    def run(self) -> int:
        return 0


@pytest.mark.parametrize(
    ("debug", "flags", "sandbox"),
    [(False, [], False), (False, ["--sandbox"], True), (True, [], True), (True, ["--no-sandbox"], False)],
)
def test_serve_starts_the_sandbox_in_production_only_when_asked(
    db: None, settings: Any, monkeypatch: pytest.MonkeyPatch, debug: bool, flags: list[str], sandbox: bool
) -> None:
    settings.DEBUG = debug
    monkeypatch.setattr(serve, "Supervisor", Recorder)
    call_command("serve", "--no-demo", "--no-worker", *flags, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert ("sandbox" in Recorder.started) is sandbox
    assert "web" in Recorder.started


# -- Content-Security-Policy, HSTS, favicon --------------------------------------------------------------------


def test_every_page_is_sent_with_a_content_security_policy_without_inline_code(tenant: Tenant) -> None:
    for response in (tenant.client.get("/"), Client().get("/login/"), Client().get(f"/r/{tenant.referrer.code}/")):
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy


INLINE = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>|<style\b|\sstyle=\"|\son[a-z]+=\"")


def test_no_template_holds_inline_script_style_or_event_handlers() -> None:
    """The policy forbids them: each would be a broken button or an unstyled element in the browser."""
    offenders = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0).strip()}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for match in INLINE.finditer(path.read_text())
    ]
    assert not offenders


def test_hsts_is_sent_on_https_requests_when_configured(db: None, settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    response = Client().get("/login/", secure=True)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in Client().get("/login/").headers  # never over plain http


def test_the_favicon_is_served(db: None) -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 301
    icon = Client().get(response.headers["Location"])
    icon.close()  # a file response: close the file it holds open
    assert icon.status_code == 200
    assert icon.headers["Content-Type"].startswith("image/svg+xml")


# -- static files under ASGI -----------------------------------------------------------------------------------


async def asgi_get(path: str) -> tuple[int, bytes]:
    """One GET through Django's real ASGI handler (the one uvicorn runs), collecting what it sends."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await ASGIHandler()(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_static_files_are_served_under_asgi_without_the_streaming_warning(db: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "StreamingHttpResponse must consume synchronous iterators" fails here
        status, body = asyncio.run(asgi_get("/static/css/app.css"))
    assert status == 200
    assert b".card" in body
