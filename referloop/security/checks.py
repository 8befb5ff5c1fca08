"""`referloop check --deploy`: warnings for settings that are fine on a laptop and wrong in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.checks import Tags, Warning, register
from django.utils.module_loading import import_string

MIN_SECRET_KEY_LENGTH = 50  # Django's own check (security.W009) uses the same length
TEST_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}
# Cache backends the rate-limit counters must not live in with DEBUG off: the database cache culls a third of its
# rows, live counters included, once it holds MAX_ENTRIES; locmem and file caches are one process's or machine's
# (and cull too); the dummy cache counts nothing.
LOCAL_CACHE_BACKENDS = (DatabaseCache, LocMemCache, FileBasedCache, DummyCache)


@register(Tags.security, deploy=True)
def check_production_settings(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    warnings: list[Warning] = []
    if settings.SERVICETITAN_ALLOW_SANDBOX:
        warnings.append(
            Warning(
                "The local ServiceTitan sandbox is allowed as an integration environment.",
                hint="Unset REFERLOOP_SERVICETITAN_ALLOW_SANDBOX in production.",
                id="referloop.W001",
            )
        )
    if len(settings.SECRET_KEY) < MIN_SECRET_KEY_LENGTH or len(set(settings.SECRET_KEY)) < 5:
        warnings.append(
            Warning(
                f"REFERLOOP_SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters or has too few "
                "distinct characters.",
                hint="Set it to a long random value: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'.",
                id="referloop.W002",
            )
        )
    if settings.EMAIL_BACKEND in TEST_EMAIL_BACKENDS:
        warnings.append(
            Warning(
                f"Email goes to {settings.EMAIL_BACKEND.rsplit('.', 2)[-2]}, not to people: password resets "
                "and invitations are printed or dropped.",
                hint="Set REFERLOOP_EMAIL_BACKEND to a real backend (SMTP or a provider's).",
                id="referloop.W003",
            )
        )
    if not settings.FIELD_ENCRYPTION_KEY:
        warnings.append(
            Warning(
                "Integration secrets are encrypted with a key derived from the secret key: rotating the secret "
                "key makes them unreadable, and one leaked value reveals both.",
                hint="Set REFERLOOP_FIELD_ENCRYPTION_KEY to its own Fernet key "
                "(python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())').",
                id="referloop.W004",
            )
        )
    if not settings.DEBUG and (backend := _local_cache_backend()) is not None:
        warnings.append(
            Warning(
                f"The rate limits and email caps count in {backend}: it culls live counters when full (a bot "
                "rotating addresses resets everyone's limits) or isn't shared by every web process.",
                hint="Set REFERLOOP_CACHE_URL to Redis for production, e.g. redis://127.0.0.1:6379/0.",
                id="referloop.W005",
            )
        )
    if settings.TRUSTED_PROXY_HEADER and not settings.TRUSTED_PROXY_NETWORKS:
        warnings.append(
            Warning(
                f"{settings.TRUSTED_PROXY_HEADER} is believed from any peer: a client that reaches the app "
                "directly, past the proxy, picks its own address for the rate limits.",
                hint="Set REFERLOOP_TRUSTED_PROXY_NETWORKS to the proxies' networks, e.g. 10.0.0.0/8.",
                id="referloop.W006",
            )
        )
    return warnings


def _local_cache_backend() -> str | None:
    """The rate limits' cache backend's name if it is one of LOCAL_CACHE_BACKENDS, else None."""
    alias = getattr(settings, "RATELIMIT_USE_CACHE", "default")
    path = settings.CACHES.get(alias, {}).get("BACKEND", "")
    try:
        backend = import_string(path)
    except ImportError:
        return None  # Django's own cache checks report a backend that can't be imported
    if isinstance(backend, type) and issubclass(backend, LOCAL_CACHE_BACKENDS):
        return f"the {backend.__name__} backend"
    return None
