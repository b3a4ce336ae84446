"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against a
live gunicorn server with auth off: what it shows, its admin actions, its reach.
Its live feed is in test_dashboard_live; auth on, in production, in test_dashboard_auth."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urljoin

import pytest
import requests
from objmgr_client.operations import CREATE_POOL

from .dashboard_support import (
    ACCESSIBILITY_PROBLEMS,
    PHONE,
    WIDE,
    Browser,
    expect,
    lease_row,
    make_pool,
    open_pool,
    unique,
    visit,
)
from .support import HTTP_TIMEOUT, LiveServer

pytestmark = pytest.mark.live


# Screenshots, first: the server then holds only the pools they show ----------------------


def _showcase(server: LiveServer) -> str:
    """A few pools in use, as a team would have them; the name of the one to show."""
    client = server.client()
    try:
        if client.pool("build-agents") is None:
            for name, size in [("build-agents", 24), ("licences", 5), ("ports", 1000)]:
                client.data(CREATE_POOL, {"name": name, "size": size})
            agents = [("ci-linux", 900), ("ci-linux", 300), ("ci-mac", 1800), ("nightly", None)]
            for index, (owner, ttl) in enumerate(agents + [("ci-linux", 120)] * 5):
                client.acquire(
                    pool="build-agents", owner=owner, label=f"job {4200 + index}", ttl=ttl
                )
            client.free(2, pool="build-agents")
            for seat in range(5):
                client.acquire(pool="licences", owner=f"designer-{seat}", label="cad", ttl=3600)
            for _ in range(120):
                client.acquire(pool="ports", owner="staging", ttl=600)
            client.acquire(owner="alice", label="notebook", ttl=60)
    finally:
        client.close()
    return "build-agents"


@pytest.mark.parametrize(
    ("viewport", "colours", "file_name"),
    [
        (WIDE, "light", "dashboard-wide.png"),
        (PHONE, "light", "dashboard-phone.png"),
        (WIDE, "dark", "dashboard-dark.png"),
    ],
)
def test_screenshots_of_the_main_views(
    browser: Browser,
    server: LiveServer,
    viewport: dict[str, int],
    colours: Literal["light", "dark"],
    file_name: str,
) -> None:
    name = _showcase(server)
    with visit(browser, server.base_url, viewport, colours) as seen:
        page = seen.page
        open_pool(page, server.base_url, name, live=True)
        expect(page.locator("#leases-table tbody tr")).to_have_count(8)
        expect(page.locator("#feed li").first).to_be_visible()
        # Readable on a phone: the page never scrolls sideways (there a table's rows
        # read as cards).
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], width
        # A phone shows its first screen: what someone sees on opening the page.
        path: Path = seen.screenshot(file_name, full_page=viewport != PHONE)
    assert path.stat().st_size > 0


# Served ------------------------------------------------------------------------------


def test_root_redirects_to_the_dashboard(server: LiveServer) -> None:
    response = requests.get(f"{server.base_url}/", allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert response.status_code == 302
    assert urljoin(f"{server.base_url}/", response.headers["Location"]) == (
        f"{server.base_url}/dashboard"
    )


def test_the_page_allows_only_its_own_origin(server: LiveServer) -> None:
    response = requests.get(f"{server.base_url}/dashboard", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"


def test_the_page_has_one_url(server: LiveServer) -> None:
    response = requests.get(
        f"{server.base_url}/dashboard/", allow_redirects=False, timeout=HTTP_TIMEOUT
    )
    assert response.status_code == 301
    assert urljoin(f"{server.base_url}/dashboard/", response.headers["Location"]) == (
        f"{server.base_url}/dashboard"
    )


# What it shows -----------------------------------------------------------------------


def test_the_page_shows_every_pool(browser: Browser, server: LiveServer) -> None:
    name = make_pool(server, 250)
    server.acquire_once(pool=name, label="shown")
    with visit(browser, server.base_url) as seen:
        page = seen.open()
        row = page.locator("#pools-table tbody tr", has=page.get_by_role("button", name=name))
        expect(row.locator("td").nth(0)).to_have_text("250")
        expect(row.locator("td").nth(1)).to_have_text("1")
        expect(row.locator("td").nth(2)).to_have_text("249")
        expect(row.locator("td").nth(3)).to_have_text("0")
        expect(row.get_by_role("meter")).to_have_attribute("aria-valuenow", "1")
        default = page.locator(
            "#pools-table tbody tr", has=page.get_by_role("button", name="default")
        )
        expect(default.locator("td").nth(0)).to_have_text("100")


def test_the_leases_of_a_big_pool_come_in_pages(browser: Browser, server: LiveServer) -> None:
    name = make_pool(server, 1000)
    client = server.client()
    try:
        for _ in range(60):
            assert client.acquire(pool=name)["success"]
    finally:
        client.close()
    with visit(browser, server.base_url) as seen:
        page = seen.page
        open_pool(page, server.base_url, name)
        rows = page.locator("#leases-table tbody tr")
        expect(rows).to_have_count(50)
        expect(page.locator("#leases-page")).to_have_text("Page 1: objects 1\u201350")
        page.get_by_role("button", name="Next page").click()
        expect(rows).to_have_count(10)
        expect(page.locator("#leases-page")).to_have_text("Page 2: objects 51\u201360")
        expect(page.get_by_role("button", name="Next page")).to_be_disabled()
        page.get_by_role("button", name="Previous page").click()
        expect(rows).to_have_count(50)


# Admin actions -----------------------------------------------------------------------


def test_revoking_a_lease_from_the_page_ends_it(browser: Browser, server: LiveServer) -> None:
    name = make_pool(server, 5)
    lease = server.acquire_once(pool=name, owner="stuck", label="to end")["lease"]
    client = server.client()
    with visit(browser, server.base_url) as seen:
        page = seen.page
        open_pool(page, server.base_url, name, live=True)
        end = page.get_by_role("button", name=f"Revoke the lease of object {lease['obj']}")
        end.click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"token {lease['token']}")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        assert client.lease(lease["obj"], pool=name) is not None
        end.click()
        dialog.get_by_role("button", name="Revoke lease").click()
        expect(lease_row(page, lease["obj"])).to_have_count(0)
        expect(page.locator("#done")).to_contain_text(f"object {lease['obj']} was revoked")
        revoked = page.locator("#feed li[data-kind='REVOKED']")
        expect(revoked).to_contain_text(f"object {lease['obj']}")
        expect(revoked).to_contain_text("reason revoked from the dashboard")
    assert client.lease(lease["obj"], pool=name) is None
    # The holder's free of its lease now changes nothing.
    refused = client.free(lease["obj"], pool=name, token=lease["token"])
    assert refused["success"] is False
    events = client.data(
        "query($p: String!) { events(pool: $p) { kind obj reason } }", {"p": name}
    )["events"]
    assert {"kind": "REVOKED", "obj": lease["obj"], "reason": "revoked from the dashboard"} in (
        events
    )
    client.close()


def test_creating_and_resizing_a_pool_from_the_page(browser: Browser, server: LiveServer) -> None:
    name = unique("made")
    client = server.client()
    with visit(browser, server.base_url) as seen:
        page = seen.open()
        page.get_by_role("button", name="New pool…").click()
        dialog = page.get_by_role("dialog", name="New pool")
        dialog.get_by_label("Name").fill(name)
        dialog.get_by_label("Size").fill("12")
        dialog.get_by_role("button", name="Create pool").click()
        expect(page.locator("#detail-title")).to_have_text(f"Pool {name}")
        assert client.pool(name)["size"] == 12
        # A refusal is shown with its code, and the dialog stays open to fix it.
        page.get_by_role("button", name="New pool…").click()
        dialog.get_by_label("Name").fill(name)
        dialog.get_by_label("Size").fill("3")
        dialog.get_by_role("button", name="Create pool").click()
        expect(dialog.get_by_role("alert")).to_contain_text("POOL_EXISTS")
        dialog.get_by_role("button", name="Cancel").click()

        page.get_by_role("button", name="Resize…").click()
        resize = page.get_by_role("dialog", name=f"Resize pool {name}")
        resize.get_by_label("New size").fill("30")
        resize.get_by_role("button", name="Resize").click()
        confirm = page.get_by_role("dialog", name="Are you sure?")
        expect(confirm).to_contain_text("from 12 to 30 objects")
        confirm.get_by_role("button", name="Resize").click()
        expect(page.locator("#summary")).to_contain_text("Size30")
    assert client.pool(name)["size"] == 30
    client.close()


# Reach -----------------------------------------------------------------------------


def test_the_main_controls_are_reached_by_keyboard(browser: Browser, server: LiveServer) -> None:
    name = make_pool(server, 3)
    lease = server.acquire_once(pool=name)["lease"]
    with visit(browser, server.base_url) as seen:
        page = seen.page
        open_pool(page, server.base_url, name)
        reached: list[str] = []
        for _ in range(60):
            page.keyboard.press("Tab")
            reached.append(
                page.evaluate(
                    "() => { const e = document.activeElement;"
                    " return e.getAttribute('aria-label') || e.textContent.trim(); }"
                )
            )
        for control in ["Refresh", "New pool…", "default", name, "Resize…", "Policy…"]:
            assert control in reached, (control, reached)
        assert f"Revoke the lease of object {lease['obj']}" in reached, reached
        # Enter chooses a pool; Escape closes a dialog.
        page.get_by_role("button", name="default").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#detail-title")).to_have_text("Pool default")
        page.get_by_role("button", name="New pool…").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("dialog", name="New pool")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog", name="New pool")).to_be_hidden()


@pytest.mark.parametrize(
    ("viewport", "colours"),
    [(WIDE, "light"), (PHONE, "light"), (WIDE, "dark"), (PHONE, "dark")],
    ids=["wide", "phone", "wide-dark", "phone-dark"],
)
def test_text_is_readable_and_every_control_is_named(
    browser: Browser,
    server: LiveServer,
    viewport: dict[str, int],
    colours: Literal["light", "dark"],
) -> None:
    name = make_pool(server, 4)
    server.acquire_once(pool=name, owner="ci-7", label="read me", ttl=600)
    with visit(browser, server.base_url, viewport, colours) as seen:
        page = seen.page
        open_pool(page, server.base_url, name, live=True)
        expect(page.locator("#feed li").first).to_be_visible()
        assert page.evaluate(ACCESSIBILITY_PROBLEMS) == []
        page.get_by_role("button", name="New pool…").click()
        dialog = page.get_by_role("dialog", name="New pool")
        dialog.get_by_label("Name").fill(name)
        dialog.get_by_label("Size").fill("1")
        dialog.get_by_role("button", name="Create pool").click()
        expect(dialog.get_by_role("alert")).to_contain_text("POOL_EXISTS")
        assert page.evaluate(ACCESSIBILITY_PROBLEMS) == []


def test_no_request_leaves_the_host(browser: Browser, server: LiveServer) -> None:
    with visit(browser, server.base_url) as seen:
        page = seen.open()
        expect(page.locator("#detail-title")).to_have_text("Pool default")
        # The page's own files, its queries and its stream: all of them asked of the server.
        assert any(url.endswith("/dashboard/static/main.js") for url in seen.requests)
        assert any(url.endswith("/graphql") for url in seen.requests)
        assert seen.foreign_requests() == []
