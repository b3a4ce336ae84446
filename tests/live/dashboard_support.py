"""The dashboard's browser tests: Debian's Chromium driven by Playwright, and what a
visit of the page saw (every request it made, every script error).

The browser is never downloaded: Playwright launches /usr/bin/chromium (the
`chromium` package that `make system-deps` installs).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import pytest
from objmgr_client.operations import CREATE_POOL

from .support import GraphQL, LiveServer

__all__ = [
    "ACCESSIBILITY_PROBLEMS",
    "LIVE_WITHIN",
    "PHONE",
    "WIDE",
    "Browser",
    "Locator",
    "Page",
    "Visit",
    "chromium",
    "expect",
    "heard_from",
    "lease_row",
    "make_pool",
    "open_pool",
    "pool_cell",
    "unique",
    "visit",
]

CHROMIUM = Path("/usr/bin/chromium")
# The contract: a change shows on the page within two seconds, without a reload.
LIVE_WITHIN = 2.0
# `make screenshots` writes them over the README's (docs/img); a plain test run
# writes them beside its other scratch files, leaving the checkout as it was.
SCREENSHOTS = Path(
    os.environ.get("OBJMGR_SCREENSHOTS") or Path(tempfile.gettempdir()) / "objmgr-screenshots"
)
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
    ConsoleMessage,
    Locator,
    Page,
    Request,
    WebSocket,
    expect,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError  # noqa: E402

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
    # What the page's Content-Security-Policy stopped: it never reaches the network,
    # so no request event tells of it.
    refused_by_policy: list[str] = field(default_factory=list)

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
def visit(
    browser: Browser,
    base_url: str,
    viewport: dict[str, int] = WIDE,
    colours: Literal["light", "dark"] = "light",
) -> Iterator[Visit]:
    """A visit that fails its test if the page asked any other host for anything, its
    policy refused anything, or a script of the page threw."""
    context = browser.new_context(viewport=viewport, color_scheme=colours)  # type: ignore[arg-type]
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    seen = Visit(base_url, context, page)

    def requested(request: Request) -> None:
        seen.requests.append(request.url)

    context.on("request", requested)
    page.on("pageerror", lambda error: seen.script_errors.append(str(error)))

    def logged(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.refused_by_policy.append(message.text)

    page.on("console", logged)
    try:
        yield seen
    finally:
        context.close()
    assert seen.foreign_requests() == [], seen.foreign_requests()
    assert seen.script_errors == [], seen.script_errors
    assert seen.refused_by_policy == [], seen.refused_by_policy


def unique(prefix: str) -> str:
    """A name no other test of the shared server uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_pool(server: LiveServer, size: int, client: GraphQL | None = None) -> str:
    """A new pool of the server, made through the API (by `client`, an admin's with
    auth on)."""
    name = unique("pool")
    creator = server.client() if client is None else client
    try:
        made = creator.data(CREATE_POOL, {"name": name, "size": size})["createPool"]
        assert made["success"], made
    finally:
        if client is None:
            creator.close()
    return name


def open_pool(page: Page, base_url: str, name: str, live: bool = False) -> None:
    """The dashboard with pool `name` chosen; with `live`, its event stream connected too."""
    page.goto(f"{base_url}/dashboard#pool={name}")
    expect(page.locator("#detail-title")).to_have_text(f"Pool {name}")
    if live:
        expect(page.locator("#live")).to_have_attribute("data-state", "live")


def lease_row(page: Page, obj: int) -> Locator:
    """The row of object `obj` in the leases table."""
    return page.locator(f"#leases-table tbody tr[data-obj='{obj}']")


def pool_cell(page: Page, pool: str, column: str) -> Locator:
    """The cell of column `column` in pool `pool`'s row of the pools table."""
    row = page.locator("#pools-table tbody tr").filter(
        has=page.get_by_role("button", name=pool, exact=True)
    )
    return row.locator(f"td[data-label='{column}']")


# Changes made before the page's subscription of a pool is known to be in place.
MOST_WARM_UPS = 5


def heard_from(socket: WebSocket, pool: str, change: Callable[[], object]) -> int:
    """Make `change` (in `pool`) until the page's socket hears a `next` of that pool's
    operation: the protocol acknowledges no `subscribe`, so this is what shows the
    page's subscription in place. How many changes it took."""

    def next_of_pool(payload: str | bytes) -> bool:
        message = json.loads(payload)
        # The page's operation ids are "<n>:<pool>".
        operation = str(message.get("id", ""))
        return bool(message.get("type") == "next" and operation.split(":", 1)[-1] == pool)

    for attempt in range(1, MOST_WARM_UPS + 1):
        try:
            with socket.expect_event("framereceived", next_of_pool, timeout=2000):
                change()
            return attempt
        except PlaywrightError:
            continue
    raise AssertionError(f"the page's socket heard no event of {pool}")


# What a page shows that a reader could miss: text under WCAG's contrast minimum
# (4.5:1, 3:1 for large text) against the background it is drawn on, a button
# without an accessible name, a form field without a label. SVG text is left out:
# the chart says the same in a sentence beside it.
ACCESSIBILITY_PROBLEMS = """() => {
  const rgba = (value) => {
    const parts = value.match(/[\\d.]+/g).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const luminance = ({ r, g, b }) => {
    const [R, G, B] = [r, g, b].map((c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * R + 0.7152 * G + 0.0722 * B;
  };
  const background = (element) => {
    for (let at = element; at; at = at.parentElement) {
      const colour = rgba(getComputedStyle(at).backgroundColor);
      if (colour.a > 0) return colour;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const visible = (element) => {
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" && box.right > 0;
  };
  const problems = [];
  for (const element of document.body.querySelectorAll("*")) {
    if (element.closest("svg") || !visible(element)) continue;
    const text = [...element.childNodes]
      .filter((node) => node.nodeType === Node.TEXT_NODE)
      .map((node) => node.textContent.trim())
      .join("");
    if (text) {
      const style = getComputedStyle(element);
      const fore = luminance(rgba(style.color));
      const back = luminance(background(element));
      const ratio = (Math.max(fore, back) + 0.05) / (Math.min(fore, back) + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) {
        const what = `"${text.slice(0, 30)}" (${element.tagName})`;
        problems.push(`contrast ${ratio.toFixed(2)} of ${what}`);
      }
    }
    const named = element.getAttribute("aria-label") || element.textContent.trim();
    if (element.tagName === "BUTTON" && !named) {
      problems.push(`a button without a name: ${element.outerHTML.slice(0, 80)}`);
    }
    if (["INPUT", "SELECT", "TEXTAREA"].includes(element.tagName) && element.labels.length === 0) {
      problems.push(`a field without a label: ${element.outerHTML.slice(0, 80)}`);
    }
  }
  return problems;
}"""
