"""Settings from the environment, with safe defaults for development.

Every value a deployment changes comes from an environment variable. The development secret key is refused
when DEBUG is off, so a default can never reach production.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from referloop.campaigns.abuse import captcha  # no models: only the CAPTCHA settings' check and CSP origins

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("REFERLOOP_VAR_DIR", BASE_DIR.parent / "var"))

DEVELOPMENT_SECRET_KEY = "referloop-development-secret-key-do-not-use-in-production"


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def proxy_networks(raw: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """REFERLOOP_TRUSTED_PROXY_NETWORKS parsed at start-up, so a typo stops the process naming the bad part."""
    try:
        return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()]
    except ValueError as error:
        raise ImproperlyConfigured(f"REFERLOOP_TRUSTED_PROXY_NETWORKS: {error}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("REFERLOOP_DEBUG", True)
SECRET_KEY = os.environ.get("REFERLOOP_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("REFERLOOP_SECRET_KEY must be set to a long random value when REFERLOOP_DEBUG is off.")

ALLOWED_HOSTS = env_list("REFERLOOP_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("REFERLOOP_CSRF_TRUSTED_ORIGINS", [])
# The address people use to reach referloop; referral links are built from it.
PUBLIC_BASE_URL = os.environ.get("REFERLOOP_PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # serves its bundled Swagger UI files, so the API docs page needs no CDN
    "referloop.accounts",
    "referloop.campaigns",
    "referloop.integrations",
    "referloop.integrations.servicetitan.customer_sync",
    "referloop.diagnostics",
    "referloop.rewards",
    "referloop.notifications",
    "referloop.portal",
    "referloop.runtime",
    "referloop.security",
    "csp",
]

MIDDLEWARE = [
    "referloop.runtime.health.HealthMiddleware",  # first: probes skip the host check, sessions and logins
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "referloop.security.static.StaticFilesMiddleware",  # WhiteNoise, with plain responses under ASGI
    "referloop.security.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "referloop.accounts.middleware.CurrentAccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "referloop.urls"
WSGI_APPLICATION = "referloop.wsgi.application"
ASGI_APPLICATION = "referloop.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "referloop.accounts.context_processors.current_account",
            ],
        },
    },
]


def database_settings() -> dict[str, Any]:
    """PostgreSQL when DATABASE_URL is set, otherwise the embedded SQLite file in WAL mode.

    WAL lets readers and one writer work at once; IMMEDIATE transactions take the write lock up front, so a
    second writer waits (busy timeout) instead of failing half-way with "database is locked".
    """
    url = os.environ.get("DATABASE_URL")
    if url:
        # A web process (referloop/asgi.py) closes its connection at the end of each request: under ASGI each
        # request's sync code runs in a thread of its own, and a connection kept per thread (CONN_MAX_AGE) outlived
        # its thread, so a burst of requests used up PostgreSQL's max_connections ("too many clients": 500s, seen
        # in bench/intake_http.py). Django's advice for ASGI. The worker's few long-lived threads keep theirs.
        web = os.environ.get("REFERLOOP_WEB_PROCESS") == "1"
        config: dict[str, Any] = dict(
            dj_database_url.parse(url, conn_max_age=0 if web else 60, conn_health_checks=True)
        )
        if config["ENGINE"] == "django.db.backends.sqlite3":
            config["OPTIONS"] = sqlite_options()
            config["TEST"] = sqlite_test_settings()
        return config
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(VAR_DIR / "referloop.sqlite3"),
        "OPTIONS": sqlite_options(),
        "TEST": sqlite_test_settings(),
    }


def sqlite_test_settings() -> dict[str, Any]:
    """The test database is a file, not pytest-django's in-memory default.

    The worker's tests run a real `referloop worker` subprocess and worker threads against it: an in-memory
    database is invisible to another process, and its shared cache locks whole tables between threads. One file
    per test run (the pid), so parallel runs never share one; pytest-django deletes it at the end.
    """
    return {"NAME": str(Path(tempfile.gettempdir()) / f"referloop-test-{os.getpid()}.sqlite3")}


def sqlite_options() -> dict[str, Any]:
    return {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000; PRAGMA foreign_keys=ON;"
        ),
    }


DATABASES = {"default": database_settings()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve straight from the app folders: no collectstatic step for the demo or the tests.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

EMAIL_BACKEND = os.environ.get("REFERLOOP_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# Backends that deliver nothing to anyone: with DEBUG off a password-reset link would go to stdout (or nowhere).
TEST_EMAIL_BACKENDS = {f"django.core.mail.backends.{name}.EmailBackend" for name in ("console", "locmem", "dummy")}
if not DEBUG and EMAIL_BACKEND in TEST_EMAIL_BACKENDS and not env_bool("REFERLOOP_ALLOW_TEST_EMAIL_BACKEND", False):
    raise ImproperlyConfigured(
        f"REFERLOOP_EMAIL_BACKEND is {EMAIL_BACKEND}, which sends no email, and REFERLOOP_DEBUG is off: set a real "
        "backend (e.g. django.core.mail.backends.smtp.EmailBackend with REFERLOOP_EMAIL_HOST), or set "
        "REFERLOOP_ALLOW_TEST_EMAIL_BACKEND=1 to run without email on purpose."
    )
DEFAULT_FROM_EMAIL = os.environ.get("REFERLOOP_FROM_EMAIL", "referloop <no-reply@referloop.local>")
# For django.core.mail.backends.smtp.EmailBackend.
EMAIL_HOST = os.environ.get("REFERLOOP_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("REFERLOOP_EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("REFERLOOP_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("REFERLOOP_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("REFERLOOP_EMAIL_USE_TLS", True)
# Seconds an SMTP connection may wait on the server: Django's default is forever, and a hung server would hold
# a web request, or a thread of accounts/mail.py's pool, for good.
EMAIL_TIMEOUT = float(os.environ.get("REFERLOOP_EMAIL_TIMEOUT", "15"))

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# HSTS once served over HTTPS (SecurityMiddleware sends it on secure requests only; behind a TLS-terminating proxy
# set REFERLOOP_SECURE_PROXY_SSL_HEADER=1 so the proxy's X-Forwarded-Proto: https counts). Off in development.
SECURE_HSTS_SECONDS = 0 if DEBUG else int(os.environ.get("REFERLOOP_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("REFERLOOP_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = False
if env_bool("REFERLOOP_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): scripts and styles from our own origin only, no inline code, no eval.
# The templates use no inline <script>, <style>, style="" or on*="" (static/js/app.js does what those did).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Public forms: an optional CAPTCHA (campaigns/abuse/captcha.py, docs/security.md "Public forms"), off unless a
# provider is set: "turnstile" or "hcaptcha", with that widget's site key and secret. Half a configuration or an
# unknown provider stops referloop here, naming the variable. The verify URL defaults to the provider's siteverify.
# When on, and only then, the CSP allows the provider's documented script/frame (hCaptcha: also style/connect)
# origins: its widget script can only come from the provider.
CAPTCHA_PROVIDER = os.environ.get("REFERLOOP_CAPTCHA_PROVIDER", "").strip().lower()
CAPTCHA_SITE_KEY = os.environ.get("REFERLOOP_CAPTCHA_SITE_KEY", "").strip()
CAPTCHA_SECRET = os.environ.get("REFERLOOP_CAPTCHA_SECRET", "").strip()
CAPTCHA_VERIFY_URL = os.environ.get("REFERLOOP_CAPTCHA_VERIFY_URL", "").strip()
CAPTCHA_TIMEOUT_SECONDS = float(os.environ.get("REFERLOOP_CAPTCHA_TIMEOUT_SECONDS", "5"))
_captcha = captcha.config_from(
    CAPTCHA_PROVIDER,
    CAPTCHA_SITE_KEY,
    CAPTCHA_SECRET,
    CAPTCHA_VERIFY_URL,
    timeout=CAPTCHA_TIMEOUT_SECONDS,
    require_https=not DEBUG,
)
CONTENT_SECURITY_POLICY = captcha.content_security_policy(CONTENT_SECURITY_POLICY, _captcha)

# The largest upload a CSV import accepts (bytes); bigger files are refused with a clear message.
CSV_IMPORT_MAX_BYTES = int(os.environ.get("REFERLOOP_CSV_IMPORT_MAX_BYTES", str(5 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Key for encrypting integration secrets at rest; derived from SECRET_KEY unless set on its own.
FIELD_ENCRYPTION_KEY = os.environ.get("REFERLOOP_FIELD_ENCRYPTION_KEY", "")

# The ServiceTitan app key is one per deployment (one app for all tenants); an integration may override it.
SERVICETITAN_APP_KEY = os.environ.get("REFERLOOP_SERVICETITAN_APP_KEY", "ak1.referloop-sandbox-app-key")
# A base URL other than ServiceTitan's own hosts (the local sandbox) is only accepted when this allows it.
SERVICETITAN_SANDBOX_URL = os.environ.get("REFERLOOP_SERVICETITAN_SANDBOX_URL", "http://127.0.0.1:8700")
SERVICETITAN_ALLOW_SANDBOX = env_bool("REFERLOOP_SERVICETITAN_ALLOW_SANDBOX", DEBUG)
# ServiceTitan allows 60 calls per second per app per tenant; the worker stays under it (see engine/ratelimit.py).
SERVICETITAN_RATE_LIMIT_PER_SECOND = float(os.environ.get("REFERLOOP_SERVICETITAN_RATE_LIMIT", "60"))
# Is First Time Client From ServiceTitan: the longest a booking waits for its customer lookup before it goes out
# with the mapping's fallback value (integrations/servicetitan/known_customers.py).
SERVICETITAN_CUSTOMER_LOOKUP_SECONDS = float(os.environ.get("REFERLOOP_SERVICETITAN_CUSTOMER_LOOKUP_SECONDS", "5"))
# Tries that fail and will be retried (ServiceTitan down, 5xx, timeouts) turn an integration to Needs attention, with
# one email, once no booking has gone through for this long (integrations/alerts.py).
SERVICETITAN_ATTENTION_AFTER_SECONDS = float(os.environ.get("REFERLOOP_SERVICETITAN_ATTENTION_AFTER_SECONDS", "300"))
# How often the worker asks ServiceTitan what became of each integration's bookings (follower/). In development
# (the demo against the sandbox) every 30 s, so a job completed in the sandbox shows within a minute.
FOLLOW_INTERVAL_SECONDS = float(os.environ.get("REFERLOOP_FOLLOW_INTERVAL_SECONDS", "30" if DEBUG else "300"))

# /metrics (Prometheus) answers staff users, or a scraper sending "Authorization: Bearer <this token>".
# Empty (the default) means no token is accepted: the metrics are never public by accident.
METRICS_TOKEN = os.environ.get("REFERLOOP_METRICS_TOKEN", "")

# Outbound webhooks (integrations/webhooks): an endpoint must be https and resolve to public addresses only
# (checked when it is saved and at every send). Plain http is for development; loopback for tests and local
# receivers; private, link-local and cloud metadata addresses are never allowed.
WEBHOOKS_ALLOW_HTTP = env_bool("REFERLOOP_WEBHOOKS_ALLOW_HTTP", DEBUG)
WEBHOOKS_ALLOW_LOOPBACK = env_bool("REFERLOOP_WEBHOOKS_ALLOW_LOOPBACK", False)
if not DEBUG and (WEBHOOKS_ALLOW_HTTP or WEBHOOKS_ALLOW_LOOPBACK):
    # Production sends only to public https addresses: either switch would open the door to our own network.
    raise ImproperlyConfigured(
        "REFERLOOP_WEBHOOKS_ALLOW_HTTP and REFERLOOP_WEBHOOKS_ALLOW_LOOPBACK are for development: "
        "unset them when REFERLOOP_DEBUG is off."
    )
# An endpoint whose every try has failed for this many days is disabled, and its account emailed.
WEBHOOKS_DISABLE_AFTER_DAYS = float(os.environ.get("REFERLOOP_WEBHOOKS_DISABLE_AFTER_DAYS", "5"))

# Public forms (campaigns/abuse, docs/security.md "Public forms"). A post sooner than MIN_FILL_SECONDS after the
# form was served, or with a token older than MAX_AGE_SECONDS, is shown the form again to resend.
PUBLIC_FORM_MIN_FILL_SECONDS = float(os.environ.get("REFERLOOP_PUBLIC_FORM_MIN_FILL_SECONDS", "2"))
PUBLIC_FORM_MAX_AGE_SECONDS = int(os.environ.get("REFERLOOP_PUBLIC_FORM_MAX_AGE_SECONDS", str(12 * 3600)))
# Accepted submissions per client IP per campaign, per form (django-ratelimit's "count/period", e.g. 5/10m).
# The per-campaign hourly ceiling is a Campaign field its owner sets.
PUBLIC_FORM_IP_RATE = os.environ.get("REFERLOOP_PUBLIC_FORM_IP_RATE", "5/10m")
# A lead is "Suspicious" when its campaign has more than this many leads from its IP address.
SUSPICIOUS_LEADS_PER_IP = int(os.environ.get("REFERLOOP_SUSPICIOUS_LEADS_PER_IP", "3"))
# Behind a reverse proxy: the header it writes the client's address into (e.g. X-Forwarded-For) and how many
# proxies append to it. Unset, the connecting address (REMOTE_ADDR) is the client; the header is never trusted.
TRUSTED_PROXY_HEADER = os.environ.get("REFERLOOP_TRUSTED_PROXY_HEADER", "")
TRUSTED_PROXY_COUNT = int(os.environ.get("REFERLOOP_TRUSTED_PROXY_COUNT", "1"))
# The proxies' own addresses (comma-separated networks, e.g. "10.0.0.0/8,fd00::/8"): the header is believed only
# from a peer inside them, so a client that reaches the app directly can't write its own address. Empty: any peer
# (check --deploy warns, referloop.W006).
TRUSTED_PROXY_NETWORKS = proxy_networks(os.environ.get("REFERLOOP_TRUSTED_PROXY_NETWORKS", ""))


DATABASE_CACHE_MAX_ENTRIES = 200_000  # why this many: cache_settings below


def cache_settings(url: str) -> dict[str, Any]:
    """Redis for a deployment with several web processes or machines (REFERLOOP_CACHE_URL=redis://host:6379/0);
    otherwise the database's own cache table, created by `migrate` (campaigns/abuse/cache.py)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {"BACKEND": "referloop.runtime.redis_cache.RedisCache", "LOCATION": url, "KEY_PREFIX": "referloop"}
    if url:
        raise ImproperlyConfigured(f"REFERLOOP_CACHE_URL must be a redis:// URL, not {url.split(':', 1)[0]}:…")
    return {
        "BACKEND": "referloop.campaigns.abuse.cache.DatabaseCache",
        "LOCATION": "referloop_cache",
        # Longer than the longest rate window (an hour): the stock incr re-sets the timeout, and a counter must
        # outlive its window. Many entries: a bot rotating addresses must not cull live counters.
        "TIMEOUT": 2 * 3600,
        # Past MAX_ENTRIES rows Django deletes the expired rows, then a third of the rest, live counters included.
        # A counter lives at most TIMEOUT (2 h) after its last hit, and each accepted public-form post makes at
        # most 2 (client, campaign), each account or referral-link email 2 (address, client); each accepted
        # post also spends its form token, a row kept for the token's 12 h (formguard.py). 200,000 rows are a
        # day of ~65,000 posts and emails even if none had expired, ~3.5 posts a second sustained for the 12 hours
        # that matter; past it, culling drops spent tokens first ("form-token:" sorts before "rl:"), which
        # makes them replayable again but never loosens a rate limit. Bigger costs every new row: the backend
        # runs COUNT(*) on the table before each write (measured 6 ms on PostgreSQL at 200,000 rows, 28 ms at
        # 1,000,000). More traffic than that, or more than one machine: Redis (check --deploy warns, W005).
        "OPTIONS": {"MAX_ENTRIES": DATABASE_CACHE_MAX_ENTRIES},
    }


CACHES = {"default": cache_settings(os.environ.get("REFERLOOP_CACHE_URL", ""))}
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = True  # see campaigns/abuse/limits.py: a cache outage must not turn away every real lead

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Credentials never reach a log line, whoever writes it (referloop/security/logging.py).
    "filters": {"redact_credentials": {"()": "referloop.security.logging.RedactCredentials"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_credentials"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("REFERLOOP_LOG_LEVEL", "INFO")},
    # httpx logs every request at INFO: thousands a second from the worker.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        # django-ninja writes its "Unexpected auth - '<header>'" line here: redacted before any handler sees it.
        "django": {"filters": ["redact_credentials"]},
    },
}
# Tests and benchmarks may point Production/Integration at local sandboxes (e.g. to reproduce "credentials
# from the other environment"); honoured only while the sandbox is allowed, never in production.
SERVICETITAN_ENVIRONMENT_OVERRIDES: dict[str, str] = {}

# Accounts: login throttling with django-axes (referloop/accounts/throttling.py says why these values). Five wrong
# passwords for one email from one client IP lock that pair out for 15 minutes; twelve for one email from any
# clients lock the email out everywhere for 15 minutes (a reset password by email ends it); a right password is
# then refused too, with a message, until the time is up. Attempts are rows in the database, shared by every
# process.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes asks: it turns a lockout into the 429 page
AUTHENTICATION_BACKENDS = [
    "referloop.accounts.throttling.AxesHttpBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("REFERLOOP_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("REFERLOOP_LOGIN_LOCKOUT_MINUTES", "15")))
# One email from one client, and one email from every client (an attacker rotating addresses): each combination
# has its own limit, LOGIN_FAILURE_LIMITS in the same order, applied by throttling.LoginAttemptsHandler.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], ["username"]]
LOGIN_ACCOUNT_FAILURE_LIMIT = int(os.environ.get("REFERLOOP_LOGIN_ACCOUNT_FAILURE_LIMIT", "12"))
LOGIN_FAILURE_LIMITS = [AXES_FAILURE_LIMIT, LOGIN_ACCOUNT_FAILURE_LIMIT]
AXES_HANDLER = "referloop.accounts.throttling.LoginAttemptsHandler"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_CALLABLE = "referloop.accounts.throttling.login_email"
AXES_LOCKOUT_CALLABLE = "referloop.accounts.throttling.locked_out"
# The same client key the public forms' limits use: the trusted client address, IPv6 by its /64.
AXES_CLIENT_IP_CALLABLE = "referloop.accounts.throttling.login_client"
AXES_VERBOSE = False
