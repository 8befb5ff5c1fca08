"""Settings for bench/intake_http.py: every referloop setting, with the URLs of bench/intake_urls.py (referloop's
own plus `/bench/insert/`, the one-row floor the issue compares intake with)."""

from referloop.settings import *  # noqa: F403

ROOT_URLCONF = "intake_urls"

# The bench speaks plain HTTP on loopback where production has TLS in front: secure cookies would never come
# back, so every form post would fail its CSRF check. The work per request is the same.
CSRF_COOKIE_SECURE = False
SESSION_COOKIE_SECURE = False
