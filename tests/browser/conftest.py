"""Fixtures for the browser tests: one headless Chromium for the folder, a fresh page per test, screenshots.

The app runs in pytest-django's `live_server` (a real HTTP server in a thread, static files included), and the
test drives it through Playwright's sync API.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from referloop.integrations.engine.worker import WorkerOptions, WorkerReport, run_worker, until_idle

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
    """A fresh page; the test fails if the browser reported a Content-Security-Policy violation on it.

    A violation is a button that does nothing or an element left unstyled, which a test may not notice. Chromium
    reports each in the console ("Refused to execute inline script because it violates ... Content Security
    Policy ...") and as a `securitypolicyviolation` event, recorded here by a script added to every page.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(5_000)
    context.add_init_script(CSP_RECORDER)
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    try:
        recorded = page.evaluate("window.__cspViolations || []") if not page.is_closed() else []
    except PlaywrightError:  # a page mid-navigation has no window to ask; its console messages still counted
        recorded = []
    context.close()
    violations += [f"{v['directive']} blocked {v['blocked']} on {v['url']}" for v in recorded]
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    {directive: event.violatedDirective, blocked: event.blockedURI || "inline", url: document.location.href}
  );
});
"""


@pytest.fixture(autouse=True)
def no_minimum_fill_time(settings) -> None:
    """Playwright fills a form in well under the 2 s a person takes; the public forms' other checks stay on."""
    settings.PUBLIC_FORM_MIN_FILL_SECONDS = 0


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


def run_worker_until_idle() -> WorkerReport:
    """The delivery worker, in its own thread (this one runs Playwright's event loop), until nothing is due."""
    reports: list[WorkerReport] = []
    thread = threading.Thread(
        target=lambda: reports.append(run_worker(WorkerOptions(poll_interval=0.05), stop_when=until_idle)),
        name="referloop-worker",
    )
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the worker did not finish"
    return reports[0]
