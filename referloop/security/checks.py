"""`referloop check --deploy`: warnings for settings that are fine on a laptop and wrong in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register

MIN_SECRET_KEY_LENGTH = 50  # Django's own check (security.W009) uses the same length
TEST_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}


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
    return warnings
