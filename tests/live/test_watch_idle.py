"""Watching costs nothing while nothing happens: 1,000 idle SSE subscribers of a live
2-worker server, and the workers' CPU over a quiet stretch (until every stream has carried
a keepalive, the one thing an idle stream costs) stays under 5% of a core.

The subscribers are raw sockets read by one selector loop in this process
(tests/support/subscribers.py), so that what they cost the reader is not the
server's. Before and after the stretch one change reaches every one of them:
they were subscribed, and still are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.api.sse import KEEPALIVE

from ..support.sockets import address_of
from ..support.subscribers import Subscribers, subscribed
from .idle_support import assert_idle, idle_server
from .support import GraphQL, LiveServer

pytestmark = pytest.mark.live

SUBSCRIBERS = 1000
DELIVERY_TIMEOUT = 30.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    yield from idle_server(tmp_path / "server", SUBSCRIBERS)


def _every_one_reads_a_change(server: LiveServer, subscribers: Subscribers) -> None:
    graphql = GraphQL(server.base_url)
    try:
        lease = graphql.acquire(label="idle watch")["lease"]
    finally:
        graphql.close()
    seq = _granted_seq(server, lease["obj"], lease["token"])
    assert subscribers.pump(lambda: subscribers.got(seq) == SUBSCRIBERS, DELIVERY_TIMEOUT), (
        f"{subscribers.got(seq)} of {SUBSCRIBERS} subscribers read event {seq}; "
        f"{subscribers.ended()} streams ended"
    )


def _granted_seq(server: LiveServer, obj: int, token: int) -> int:
    """The seq of the GRANTED event of the lease (obj, token) of the default pool."""
    graphql = GraphQL(server.base_url)
    try:
        events = graphql.data(
            "query($after: BigInt) { events(after: $after, first: 1000) { seq kind obj token } }",
            {"after": 0},
        )["events"]
    finally:
        graphql.close()
    (seq,) = [
        e["seq"] for e in events if (e["kind"], e["obj"], e["token"]) == ("GRANTED", obj, token)
    ]
    return int(seq)


def test_a_thousand_idle_subscribers_cost_the_workers_almost_nothing(
    server: LiveServer,
) -> None:
    workers = server.workers()
    assert len(workers) == 2
    with subscribed(address_of(server.base_url), "default", SUBSCRIBERS) as subscribers:
        _every_one_reads_a_change(server, subscribers)

        # The quiet stretch: nothing changes until every stream has carried a keepalive,
        # the one thing an idle stream costs the server.
        heard = subscribers.comments()
        assert_idle(
            workers,
            lambda: subscribers.pump(
                lambda: all(
                    now > then for now, then in zip(subscribers.comments(), heard, strict=True)
                ),
                2 * KEEPALIVE + DELIVERY_TIMEOUT,
            ),
            f"{SUBSCRIBERS} idle subscribers",
            "every stream carries a keepalive while nothing happens",
        )

        assert server.workers() == workers, "the same workers served the whole stretch"
        assert subscribers.ended() == 0
        _every_one_reads_a_change(server, subscribers)
