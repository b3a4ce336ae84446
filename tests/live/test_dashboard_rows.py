"""The dashboard's other pools, live in a real browser: one WebSocket (graphql-transport-ws)
with a subscription per listed pool; a page opened while the store is down; a stream
that fell behind the journal's retention."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from objmgr_client import Client
from playwright.sync_api import WebSocket

from ..support.journals import MOST_CHANGES, trimmed_journal
from ..support.redis_server import RedisServer, launch_redis
from .dashboard_support import (
    LIVE_WITHIN,
    Browser,
    expect,
    heard_from,
    lease_row,
    make_pool,
    open_pool,
    pool_cell,
    visit,
)
from .support import LiveServer

pytestmark = pytest.mark.live


def test_a_change_in_another_pool_shows_in_its_row_without_a_reload(
    browser: Browser, server: LiveServer
) -> None:
    chosen = make_pool(server, 5)
    other = make_pool(server, 8)
    with visit(browser, server.base_url) as seen:
        page = seen.page
        with page.expect_websocket() as opened:
            open_pool(page, server.base_url, chosen, live=True)
        socket: WebSocket = opened.value
        expect(page.locator("#pools-table")).to_have_attribute("data-live", "live")
        page.evaluate("window.notReloaded = true")
        held = heard_from(socket, other, lambda: server.acquire_once(pool=other, ttl=600))
        expect(pool_cell(page, other, "In use")).to_have_text(str(held))
        server.acquire_once(pool=other, ttl=600)
        answered = time.monotonic()
        expect(pool_cell(page, other, "In use")).to_have_text(str(held + 1))
        arrived = time.monotonic() - answered
        assert arrived <= LIVE_WITHIN, f"the row showed {arrived:.2f}s after the acquire's answer"
        assert page.evaluate("window.notReloaded") is True
        expect(pool_cell(page, chosen, "In use")).to_have_text("0")


def test_the_rows_follow_their_pools_again_after_a_restart(
    browser: Browser, live_server: LiveServer
) -> None:
    live_server.start()
    other = make_pool(live_server, 6)
    with visit(browser, live_server.base_url) as seen:
        page = seen.page
        open_pool(page, live_server.base_url, "default", live=True)
        table = page.locator("#pools-table")
        expect(table).to_have_attribute("data-live", "live")
        live_server.stop()
        expect(table).to_have_attribute("data-live", "reconnecting")
        # The page tries again while the server starts: the last socket is the one open.
        sockets: list[WebSocket] = []
        page.on("websocket", lambda socket: sockets.append(socket))
        live_server.restart()
        expect(table).to_have_attribute("data-live", "live")
        held = heard_from(sockets[-1], other, lambda: live_server.acquire_once(pool=other))
        expect(pool_cell(page, other, "In use")).to_have_text(str(held))


def test_the_socket_is_allowed_by_the_pages_policy(browser: Browser, server: LiveServer) -> None:
    # connect-src 'self' covers ws:// of the page's own host and port; `visit` fails the
    # test on any refusal the policy reports.
    with visit(browser, server.base_url) as seen:
        page = seen.page
        with page.expect_websocket() as opened:
            seen.open()
        assert opened.value.url == f"ws://127.0.0.1:{server.port}/graphql"
        expect(page.locator("#pools-table")).to_have_attribute("data-live", "live")
        # Another origin (localhost is not 127.0.0.1) is refused: the policy is what
        # allowed the page's own.
        with page.expect_console_message(
            lambda message: "Content Security Policy" in message.text
        ) as refusal:
            page.evaluate(
                """(port) => {
                  try { new WebSocket(`ws://localhost:${port}/graphql`, "graphql-transport-ws"); }
                  catch { /* refused at once, or by an error event: the console says which */ }
                }""",
                server.port,
            )
        assert "ws://localhost" in refusal.value.text, refusal.value.text
        seen.refused_by_policy.clear()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    launched = launch_redis(tmp_path / "redis")
    yield launched
    launched.stop()


def test_a_page_opened_while_the_store_is_down_recovers_by_itself(
    browser: Browser, live_server: LiveServer, redis: RedisServer
) -> None:
    live_server.start({"OBJMGR_STORE": redis.url})
    redis.kill()
    with visit(browser, live_server.base_url) as seen:
        page = seen.open()
        expect(page.locator("#notice")).to_contain_text("Trying again in")
        expect(page.locator("#pools")).to_be_hidden()
        redis.start()
        expect(page.locator("#pools")).to_be_visible()
        expect(page.locator("#notice")).to_be_hidden()
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        expect(page.locator("#pools-table")).to_have_attribute("data-live", "live")
        lease = live_server.acquire_once(ttl=600)["lease"]
        expect(lease_row(page, lease["obj"])).to_be_visible()


def test_a_stream_behind_the_journal_reads_the_pool_again(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    live_server.start({"OBJMGR_EVENTS_KEEP": "3"})
    name = "trimmed"
    kept = trimmed_journal(Client(live_server.base_url), name)
    with visit(browser, live_server.base_url) as seen:
        page = seen.page
        open_pool(page, live_server.base_url, name, live=True)
        newest = page.locator("#feed li").first
        expect(newest).to_have_attribute("data-seq", str(kept[-1].seq))
        seen_last = kept[-1].seq
        # While the page's server is down, a second one on the same database trims
        # the events after the page's last seq out of the journal.
        live_server.stop()
        trimmer = LiveServer(tmp_path / "trimmer")
        trimmer.database = live_server.database
        try:
            trimmer.start({"OBJMGR_EVENTS_KEEP": "3"})
            client = Client(trimmer.base_url)
            for _ in range(MOST_CHANGES):
                if client.events(name, 0, 1000)[0].seq > seen_last + 1:
                    break
                client.free(client.acquire(name).obj, name)
            else:
                raise AssertionError(f"the journal kept seq {seen_last + 1}")
            last = client.events(name, 0, 1000)[-1].seq
        finally:
            trimmer.close()
        live_server.restart()
        expect(page.locator("#notice")).to_contain_text("no longer in the journal")
        expect(newest).to_have_attribute("data-seq", str(last))
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        lease = live_server.acquire_once(pool=name, ttl=600)["lease"]
        expect(lease_row(page, lease["obj"])).to_be_visible()
        expect(newest).to_have_attribute("data-seq", str(last + 1))
