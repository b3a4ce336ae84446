"""GraphiQL runs a subscription over its WebSocket, in Debian's Chromium: the token of its
headers pane goes in `connection_init`, and events made elsewhere show in its result pane."""

from __future__ import annotations

import json

import pytest

from .dashboard_support import Browser, expect, visit
from .support import LiveServer
from .ws_client import TOKENS

pytestmark = pytest.mark.live

# From seq 0: the replay's POOL_CREATED shows that the subscription is open.
SUBSCRIPTION = "subscription { poolEvents(after: 0) { seq kind obj label principal } }"


def test_graphiql_runs_a_subscription_with_the_token_of_its_headers_pane(
    live_server: LiveServer, browser: Browser
) -> None:
    live_server.start(TOKENS)
    with visit(browser, live_server.base_url) as seen:
        # What GraphiQL keeps between visits: the editor's document and the headers pane.
        seen.context.add_init_script(
            f"localStorage.setItem('graphiql:query', {json.dumps(SUBSCRIPTION)});"
            f"localStorage.setItem('graphiql:headers', "
            f"{json.dumps(json.dumps({'Authorization': 'Bearer s3cret'}))});"
        )
        sockets: list[str] = []
        seen.page.on("websocket", lambda socket: sockets.append(socket.url))
        seen.page.goto(f"{live_server.base_url}/graphql")
        seen.page.click(".graphiql-execute-button")
        result = seen.page.locator(".result-window")
        expect(result).to_contain_text("POOL_CREATED")
        client = live_server.client("r00t")
        try:
            client.acquire(label="from-elsewhere")
        finally:
            client.close()
        expect(result).to_contain_text("from-elsewhere")
        expect(result).to_contain_text('"principal": "root"')
        assert sockets == [f"ws://127.0.0.1:{live_server.port}/graphql"]
