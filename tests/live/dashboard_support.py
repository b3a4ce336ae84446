"""The dashboard's browser tests: Debian's Chromium driven by Playwright, and what a
visit of the page saw (every request it made, every script error).

The browser is never downloaded: Playwright launches /usr/bin/chromium (the
`chromium` package that `make system-deps` installs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ..support.gunicorn import ROOT

__all__ = ["PHONE", "WIDE", "Browser", "Page", "Visit", "chromium", "expect", "visit"]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "img"
WIDE = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 812}
# Bounds only: each wait returns as soon as its condition holds.
UI_TIMEOUT_MS = 15_000

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `make system-deps` installs Debian's chromium",
        allow_module_level=True,
    )

from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    Page,
    Request,
    expect,
    sync_playwright,
)

expect.set_options(timeout=UI_TIMEOUT_MS)


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """One headless Chromium for a module's tests, closed (with its processes) at the end."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    """A fresh browser context (its own sessionStorage) on one server's dashboard."""

    base_url: str
    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)

    def open(self) -> Page:
        self.page.goto(f"{self.base_url}/dashboard")
        return self.page

    def foreign_requests(self) -> list[str]:
        """Every request whose scheme, host or port is not the server's."""
        home = urlsplit(self.base_url)
        return [
            url
            for url in self.requests
            if (urlsplit(url).scheme, urlsplit(url).netloc) != (home.scheme, home.netloc)
        ]

    def screenshot(self, name: str, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@contextlib.contextmanager
def visit(browser: Browser, base_url: str, viewport: dict[str, int] = WIDE) -> Iterator[Visit]:
    """A visit that fails its test if the page asked any other host for anything or a
    script of the page threw."""
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    seen = Visit(base_url, context, page)

    def requested(request: Request) -> None:
        seen.requests.append(request.url)

    context.on("request", requested)
    page.on("pageerror", lambda error: seen.script_errors.append(str(error)))
    try:
        yield seen
    finally:
        context.close()
    assert seen.foreign_requests() == [], seen.foreign_requests()
    assert seen.script_errors == [], seen.script_errors
