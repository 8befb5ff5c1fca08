"""Referral codes: short, random, and free of look-alike characters (no 0/O, 1/I/L)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 7  # 31**7 ≈ 2.7e10 codes: collisions are rare, and checked anyway.


def random_code(length: int = CODE_LENGTH) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def unique_code(is_taken: Callable[[str], bool], attempts: int = 20) -> str:
    for _ in range(attempts):
        code = random_code()
        if not is_taken(code):
            return code
    raise RuntimeError("could not find a free referral code")


def normalize_code(raw: str) -> str:
    """Codes are case-insensitive for people typing them."""
    return raw.strip().upper()
