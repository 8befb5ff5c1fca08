"""Each test counts its emails and form posts from zero: django-ratelimit's counters live in the shared cache."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def own_rate_limit_counters(settings: Any) -> None:
    # A namespace per test, not cache.clear(): the cache may be one Redis shared with other test processes.
    settings.RATELIMIT_CACHE_PREFIX = f"rl-test-{uuid.uuid4().hex}:"
