"""The dashboard's live feed in a real browser: the poolEvents subscription over SSE,
read by the page's own parser, reconnecting from its last seq."""

from __future__ import annotations

import re
import time

import pytest

from .dashboard_support import (
    LIVE_WITHIN,
    Browser,
    expect,
    lease_row,
    make_pool,
    open_pool,
    unique,
    visit,
)
from .support import LiveServer

pytestmark = pytest.mark.live


# The stream as the server frames it (a comment first, keepalives, CRLF or LF), with a
# line of data split over two `data:` fields and a character of two bytes.
STREAM = (
    ': objmgr\r\n\r\nevent: next\r\ndata: {"label":\r\ndata: "caf\u00e9"}\r\n\r\n'
    ":\n\nevent: complete\ndata: \n\n"
)
PARSE_IN_EVERY_CHUNKING = """async (text) => {
  const { messages } = await import("./dashboard/static/sse.js");
  const bytes = new TextEncoder().encode(text);
  const seen = new Set();
  for (let size = 1; size <= bytes.length; size += 1) {
    const body = new ReadableStream({
      start(controller) {
        for (let at = 0; at < bytes.length; at += size) {
          controller.enqueue(bytes.slice(at, at + size));
        }
        controller.close();
      },
    });
    const got = [];
    for await (const message of messages(body, () => {})) got.push(message);
    seen.add(JSON.stringify(got));
  }
  return [...seen].map((each) => JSON.parse(each));
}"""


def test_the_stream_parser_reads_the_same_messages_however_the_bytes_come(
    browser: Browser, server: LiveServer
) -> None:
    with visit(browser, server.base_url) as seen:
        page = seen.open()
        parsed = page.evaluate(PARSE_IN_EVERY_CHUNKING, STREAM)
    assert parsed == [
        [
            {"event": "next", "data": '{"label":\n"caf\u00e9"}'},
            {"event": "complete", "data": ""},
        ]
    ]


def test_an_acquire_made_elsewhere_appears_without_a_reload(
    browser: Browser, server: LiveServer
) -> None:
    name = make_pool(server, 10)
    label = unique("job")
    with visit(browser, server.base_url) as seen:
        page = seen.page
        open_pool(page, server.base_url, name, live=True)
        page.evaluate("window.notReloaded = true")
        lease = server.acquire_once(pool=name, owner="ci-7", label=label, ttl=600)["lease"]
        answered = time.monotonic()
        row = lease_row(page, lease["obj"])
        expect(row).to_contain_text(label)
        arrived = time.monotonic() - answered
        expect(page.locator("#feed li[data-kind='GRANTED']").first).to_contain_text(label)
        assert arrived <= LIVE_WITHIN, f"the lease showed {arrived:.2f}s after the acquire's answer"
        assert page.evaluate("window.notReloaded") is True
        expect(row).to_contain_text("ci-7")
        expect(row.locator("td").nth(3)).to_have_text(str(lease["token"]))
        expect(page.locator("#summary")).to_contain_text("In use1")
        expect(page.locator("#chart-text")).to_contain_text("1 grants")
        # Time left counts down by itself, a second at a time.
        left = row.locator(".left")
        first = left.inner_text()
        expect(left).not_to_have_text(first)
        assert re.fullmatch(r"\d+ min \d\d s", left.inner_text()), left.inner_text()


def test_an_expiry_shows_in_the_feed_and_the_chart(browser: Browser, server: LiveServer) -> None:
    name = make_pool(server, 3)
    with visit(browser, server.base_url) as seen:
        page = seen.page
        open_pool(page, server.base_url, name, live=True)
        lease = server.acquire_once(pool=name, owner="short-lived", ttl=1)["lease"]
        # The server's reaper reclaims it when its TTL ends; the page hears the event.
        expired = page.locator("#feed li[data-kind='EXPIRED']")
        expect(expired).to_contain_text(f"object {lease['obj']}")
        expect(lease_row(page, lease["obj"])).to_have_count(0)
        expect(page.locator("#chart-text")).to_contain_text("1 grants, 0 frees, 1 expiries")


def test_the_stream_comes_back_after_a_restart_without_a_gap(
    browser: Browser, server: LiveServer
) -> None:
    name = make_pool(server, 10)
    with visit(browser, server.base_url) as seen:
        page = seen.page
        open_pool(page, server.base_url, name, live=True)
        first = server.acquire_once(pool=name, label="before")["lease"]
        expect(lease_row(page, first["obj"])).to_be_visible()
        server.restart()
        second = server.acquire_once(pool=name, label="after")["lease"]
        expect(lease_row(page, second["obj"])).to_be_visible()
        expect(page.locator("#live")).to_have_attribute("data-state", "live")
        seqs = page.locator("#feed li").evaluate_all(
            "items => items.map(i => Number(i.dataset.seq))"
        )
        assert seqs == sorted(set(seqs), reverse=True), seqs
