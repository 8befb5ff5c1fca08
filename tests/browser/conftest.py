"""Fixtures for the browser tests: one headless Chromium for the folder, a fresh page per test, screenshots.

The app runs in pytest-django's `live_server` (a real HTTP server in a thread, static files included), and the
test drives it through Playwright's sync API.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

CHROMIUM = os.environ.get("REFERLOOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# Fail fast: a missing element should fail the test in seconds, not after Playwright's 30 s default.
expect.set_options(timeout=5_000)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    # Playwright's sync API runs an asyncio event loop in this (the main) thread for as long as it is started.
    # Django then sees a running loop and refuses every sync ORM call made here (SynchronousOnlyOperation): the
    # database fixtures' set-up and flush, and the tests' own checks of what was saved. Nothing here is really
    # async: the loop only services Playwright's connection to the browser, and the ORM calls are ordinary
    # blocking calls made between browser steps, so the check is safe to turn off while the loop runs. Django
    # reads the variable on every call, so it is set for this folder only (package scope) and restored after,
    # keeping the check on for the rest of the suite.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            yield p
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(5_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def public_base_url(live_server, settings) -> str:
    """Referral links are built from PUBLIC_BASE_URL; point them at the live server for the test."""
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def screenshot() -> Callable[[Page, str], None]:
    """`screenshot(page, "name")` saves docs/screenshots/name.png, only when REFERLOOP_SCREENSHOTS=1.

    The committed screenshots are refreshed on purpose, never as a side effect of an ordinary (CI) run.
    """
    enabled = os.environ.get("REFERLOOP_SCREENSHOTS") == "1"

    def take(page: Page, name: str) -> None:
        if not enabled:
            return
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True, animations="disabled")

    return take
