"""The dashboard with auth on, in production (GraphiQL off), in a real browser: the
token prompt, a refused token, an admin and a reader."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from .dashboard_support import (
    ACCESSIBILITY_PROBLEMS,
    Browser,
    Page,
    expect,
    heard_from,
    lease_row,
    make_pool,
    open_pool,
    pool_cell,
    visit,
)
from .support import HTTP_TIMEOUT, LiveServer

pytestmark = pytest.mark.live

ADMIN = "root"
ADMIN_SECRET = "dashboard-admin-secret-0123"
READER_SECRET = "dashboard-reader-secret-456"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A production server: GraphiQL off, auth on, the dashboard served all the same."""
    live = LiveServer(tmp_path_factory.mktemp("dashboard-locked"))
    try:
        live.start(
            {
                "OBJMGR_ENV": "production",
                "OBJMGR_TOKENS": f"{ADMIN}:{ADMIN_SECRET},reader:{READER_SECRET}",
                "OBJMGR_ADMINS": ADMIN,
            }
        )
        yield live
    finally:
        live.close()


def test_the_dashboard_is_served_in_production(locked: LiveServer) -> None:
    page = requests.get(f"{locked.base_url}/dashboard", timeout=HTTP_TIMEOUT)
    assert page.status_code == 200 and "objmgr" in page.text
    playground = requests.get(
        f"{locked.base_url}/graphql", headers={"Accept": "text/html"}, timeout=HTTP_TIMEOUT
    )
    assert "graphiql" not in playground.text.lower()


def test_with_auth_on_the_page_asks_for_a_token(browser: Browser, locked: LiveServer) -> None:
    with visit(browser, locked.base_url) as seen:
        page = seen.open()
        token = page.get_by_label("Token")
        expect(token).to_be_focused()
        expect(page.locator("#pools")).to_be_hidden()
        expect(page.locator("#pool-view")).to_be_hidden()
        token.fill("not-a-token-of-this-server")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#auth-message")).to_contain_text("refused (401")
        expect(page.locator("#pools")).to_be_hidden()
        seen.screenshot("dashboard-sign-in.png")
        token.fill(ADMIN_SECRET)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="default")).to_be_visible()
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        # Kept for the tab: a reload does not ask again.
        page.reload()
        expect(page.get_by_role("button", name="default")).to_be_visible()
        expect(page.locator("#auth")).to_be_hidden()
        page.get_by_role("button", name="Forget token").click()
        expect(token).to_be_visible()


def sign_in(page: Page, secret: str) -> None:
    page.get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()


def test_an_admin_revokes_someone_elses_lease(browser: Browser, locked: LiveServer) -> None:
    admin = locked.client(ADMIN_SECRET)
    reader = locked.client(READER_SECRET)
    name = make_pool(locked, 3, admin)
    lease = reader.acquire(pool=name, label="forgotten")["lease"]
    assert lease["owner"] == "reader"
    with visit(browser, locked.base_url) as seen:
        page = seen.open()
        sign_in(page, ADMIN_SECRET)
        open_pool(page, locked.base_url, name, live=True)
        page.get_by_role("button", name=f"Revoke the lease of object {lease['obj']}").click()
        page.get_by_role("dialog").get_by_role("button", name="Revoke lease").click()
        expect(lease_row(page, lease["obj"])).to_have_count(0)
        revoked = page.locator("#feed li[data-kind='REVOKED']")
        expect(revoked).to_contain_text("by root")
        expect(revoked).to_contain_text("reason revoked from the dashboard")
    assert admin.lease(lease["obj"], pool=name) is None
    # The holder's own free of its lease now changes nothing.
    assert reader.free(lease["obj"], pool=name, token=lease["token"])["success"] is False
    admin.close()
    reader.close()


def test_a_reader_is_told_it_may_not_resize(browser: Browser, locked: LiveServer) -> None:
    with visit(browser, locked.base_url) as seen:
        page = seen.open()
        sign_in(page, READER_SECRET)
        expect(page.locator("#detail-title")).to_have_text("Pool default")
        page.get_by_role("button", name="Resize…").click()
        page.get_by_label("New size").fill("101")
        page.get_by_role("dialog", name="Resize pool default").get_by_role(
            "button", name="Resize"
        ).click()
        page.get_by_role("dialog", name="Are you sure?").get_by_role(
            "button", name="Resize"
        ).click()
        expect(page.locator("#resize-error")).to_contain_text("FORBIDDEN")
    assert locked.client(ADMIN_SECRET).pool()["size"] == 100


def test_a_reader_is_told_it_may_not_set_a_policy(browser: Browser, locked: LiveServer) -> None:
    with visit(browser, locked.base_url) as seen:
        page = seen.open()
        sign_in(page, READER_SECRET)
        expect(page.locator("#detail-title")).to_have_text("Pool default")
        page.get_by_role("button", name="Policy…").click()
        dialog = page.get_by_role("dialog", name="Policy of pool default")
        dialog.get_by_label("Max TTL").fill("60")
        dialog.get_by_role("button", name="Set policy").click()
        expect(page.locator("#policy-error")).to_contain_text("FORBIDDEN")
    assert locked.client(ADMIN_SECRET).pool()["policy"]["maxTtl"] is None


def test_the_sign_in_page_is_readable(browser: Browser, locked: LiveServer) -> None:
    with visit(browser, locked.base_url) as seen:
        page = seen.open()
        sign_in(page, "wrong-token-for-this-server")
        expect(page.locator("#auth-message")).to_contain_text("refused")
        assert page.evaluate(ACCESSIBILITY_PROBLEMS) == []


def test_a_readers_socket_follows_the_other_pools(browser: Browser, locked: LiveServer) -> None:
    admin = locked.client(ADMIN_SECRET)
    try:
        other = make_pool(locked, 4, admin)
        with visit(browser, locked.base_url) as seen:
            page = seen.open()
            # The token goes in connection_init: a socket it did not open stays shut (4403).
            with page.expect_websocket() as opened:
                sign_in(page, READER_SECRET)
            expect(page.locator("#pools-table")).to_have_attribute("data-live", "live")
            held = heard_from(opened.value, other, lambda: admin.acquire(pool=other, ttl=600))
            expect(pool_cell(page, other, "In use")).to_have_text(str(held))
    finally:
        admin.close()
