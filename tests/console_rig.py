"""Driving the web console in a test: Debian's Chromium (installed when missing) through
Playwright, a page per account, and screenshots of each step as the test's artefacts.

Screenshots go to `<tmp_path>/screenshots/`; with `STREETLIGHT_TEST_SCREENSHOTS=DIR` they are
copied to `DIR/<test name>/` as well (CI keeps that folder; the README's picture comes from it).
The page's Content-Security-Policy forbids `eval`, so conditions are polled with
`page.evaluate` rather than Playwright's `wait_for_function`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Request, ViewportSize, async_playwright

from streetlight.services import ensure_browser

# Chromium as root on a closed network: no sandbox, no GPU, none of its own calls home
# (Playwright gives each launch a fresh profile directory of its own)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 860}
SCREENSHOTS_ENV = "STREETLIGHT_TEST_SCREENSHOTS"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium until the block ends."""
    executable = await asyncio.to_thread(ensure_browser)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


class Shots:
    """Numbered screenshots of a test's steps."""

    def __init__(self, directory: Path, test: str) -> None:
        self.directory = directory / "screenshots"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.test = test
        self.count = 0

    async def take(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02d}-{name}.png"
        await page.screenshot(path=str(path))
        return path

    def keep(self) -> None:
        """Copy them where `STREETLIGHT_TEST_SCREENSHOTS` says, if it does."""
        target = os.environ.get(SCREENSHOTS_ENV)
        if target:
            shutil.copytree(self.directory, Path(target) / self.test, dirs_exist_ok=True)


@asynccontextmanager
async def console_page(browser: Browser, base_url: str) -> AsyncIterator[Page]:
    """A fresh page (its own storage) at the console. The page's errors fail the test, and so
    does a request anywhere but the API's origin: no CDN, nothing a closed network lacks."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    errors: list[str] = []
    elsewhere: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def requested(request: Request) -> None:
        if not request.url.startswith(f"{base_url}/"):
            elsewhere.append(request.url)

    page.on("request", requested)
    try:
        await page.goto(base_url + "/")
        yield page
    finally:
        await context.close()
    assert not errors, f"errors in the page: {errors}"
    assert not elsewhere, f"requests elsewhere than {base_url}: {elsewhere}"


async def until(page: Page, script: str, arg: Any = None, within: float = 10.0,
                what: str = "") -> Any:  # fmt: skip
    """Poll `script` (a function of `arg`) in the page until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        value = await page.evaluate(script, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or script}")
        await asyncio.sleep(0.05)


async def log_in(page: Page, name: str, password: str) -> None:
    """Log in through the page's form, and wait for the district on the map."""
    await page.fill("#login input[name=username]", name)
    await page.fill("#login input[name=password]", password)
    await page.click("#login button[type=submit]")
    await until(page, "() => !!window.streetlight.district.lamps", within=15, what="the map")


async def show(page: Page, view: str) -> None:
    await page.click(f"#tabs button[data-view={view}]")
