"""WebSocket subscriptions cost almost nothing while nothing happens: 1,000 idle sockets of
a live 2-worker server, each subscribed, and the workers' CPU over a quiet stretch (until
every socket has had the server's keepalive ping, the one thing an idle socket costs)
stays under 5% of a core. Before and after it, one change reaches every socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.api.websocket import KEEPALIVE

from ..support.sockets import address_of
from .idle_support import assert_idle, idle_server
from .support import LiveServer
from .ws_many import ManySockets, many_sockets

pytestmark = pytest.mark.live

SOCKETS = 1000
DELIVERY_TIMEOUT = 30.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    yield from idle_server(tmp_path / "server", SOCKETS)


def _every_one_reads_a_change(server: LiveServer, sockets: ManySockets) -> None:
    seq = int(server.acquire_once(label="idle watch")["lease"]["token"])
    # The default pool's seqs: POOL_CREATED, then one GRANTED per acquire, no other change.
    seq += 1
    assert sockets.pump(lambda: sockets.got(seq) == SOCKETS, DELIVERY_TIMEOUT), (
        f"{sockets.got(seq)} of {SOCKETS} sockets read event {seq}; {sockets.ended()} ended"
    )


def test_a_thousand_idle_sockets_cost_the_workers_almost_nothing(server: LiveServer) -> None:
    workers = server.workers()
    assert len(workers) == 2
    with many_sockets(address_of(server.base_url), "default", SOCKETS, after=0) as sockets:
        _every_one_reads_a_change(server, sockets)

        heard = sockets.pings()
        assert_idle(
            workers,
            lambda: sockets.pump(
                lambda: all(now > then for now, then in zip(sockets.pings(), heard, strict=True)),
                2 * KEEPALIVE + DELIVERY_TIMEOUT,
            ),
            f"{SOCKETS} idle sockets",
            "every socket has the server's ping while nothing happens",
        )

        assert server.workers() == workers, "the same workers served the whole stretch"
        assert sockets.ended() == 0
        _every_one_reads_a_change(server, sockets)
