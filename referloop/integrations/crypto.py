"""Encryption at rest for integration secrets (Fernet: AES-128-CBC with HMAC, from `cryptography`).

The key is REFERLOOP_FIELD_ENCRYPTION_KEY when set (a Fernet key), else derived from SECRET_KEY, so a
database copy alone never reveals a client secret.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@cache
def _fernet(secret_key: str, explicit_key: str) -> Fernet:
    if explicit_key:
        return Fernet(explicit_key.encode())
    digest = hashlib.sha256(b"referloop field encryption\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def fernet() -> Fernet:
    return _fernet(settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEY)


def encrypt(plain: str) -> str:
    return "" if not plain else fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ValueError("the stored secret cannot be decrypted with this deployment's key") from error


def mask(plain: str) -> str:
    """What screens show of a secret: its length class and last four characters at most."""
    if not plain:
        return ""
    return "••••••••" + (plain[-4:] if len(plain) >= 12 else "")
