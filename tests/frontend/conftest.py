"""Browser-test fixtures: one real `runboard serve` with its local worker for the session
(SQLite, the synthetic data set, tiny subsets), and Debian's Chromium driven by Playwright.

Chromium is never downloaded (`playwright install` is not used): a missing browser fails the
suite loudly instead of skipping it. Every wait is bounded; screenshots of each view go to
test-artifacts/screenshots/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from tests.worker.conftest import TINY, Api, Stack

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("RUNBOARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 60_000  # the default bound of every Playwright wait: the machine is shared and slow
RUN_WAIT_S = 180.0  # for a run to reach a status (runs queue behind each other on one worker)
# Runs made through the API: TINY trains in about a second an epoch on the CPU.
QUICK: dict[str, Any] = {**TINY, "report_every": 1}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The session's processes, in their own temporary folder; stopped at the end."""
    processes = Stack(tmp_path_factory.mktemp("frontend"))
    try:
        yield processes
    finally:
        processes.close()


@pytest.fixture(scope="session")
def server(stack: Stack) -> Api:
    """`runboard serve` with its local worker (the way `make run` starts it)."""
    return stack.api(with_worker=True)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium is not at {CHROMIUM}: install Debian's chromium (.ci/run does)")
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield chromium
    finally:
        chromium.close()


class PageErrors(list[str]):
    """Uncaught exceptions of the page's scripts and CSP violations: any fails the test."""


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser: Browser, server: Api, page_errors: PageErrors) -> Iterator[Page]:
    """A fresh browser context at laptop size, pointed at the server; fails the test on
    any uncaught script error or CSP violation."""
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, base_url=server.url, accept_downloads=True
    )
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        # The page's Content-Security-Policy must never have to block anything of ours.
        if "Content Security Policy" in message.text:
            page_errors.append(message.text)

    tab.on("pageerror", lambda error: page_errors.append(str(error)))
    tab.on("console", on_console)
    try:
        yield tab
    finally:
        with contextlib.suppress(Exception):
            context.close()
    assert not page_errors, f"script errors in the page: {page_errors}"


def wait_js(page: Page, expression: str, timeout_s: float = WAIT_MS / 1000) -> Any:
    """Polls a JavaScript expression until it is truthy. (Playwright's wait_for_function
    evaluates strings in the page, which the dashboard's CSP rightly refuses.)"""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(f"() => {expression}")
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s:g} s waiting for {expression}")
        time.sleep(0.1)


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot under test-artifacts/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky header lands mid-picture
    page.screenshot(path=path, full_page=True)
    return path
