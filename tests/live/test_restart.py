"""A crash of the whole server (master and workers killed with SIGKILL) loses no lease."""

from __future__ import annotations

import pytest
import requests

from .support import LiveServer, alive

pytestmark = pytest.mark.live


def test_leases_survive_kill_9_of_master_and_workers(live_server: LiveServer) -> None:
    live_server.start({"OBJMGR_POOL_SIZE": "10"})
    client = live_server.client()
    granted = [
        client.acquire(owner="alice", label="job-1"),
        client.acquire(owner="bob", label="build #7 ünïcode", ttl=3600),
        client.acquire(),
        client.acquire(owner="carol", label="x" * 256, ttl=1800.5),
        client.acquire(owner="dave", requestId="retry-me"),
    ]
    assert all(payload["success"] for payload in granted), granted
    assert client.free(3)["success"] is True
    before = client.leases()
    assert [lease["obj"] for lease in before] == [1, 2, 4, 5]
    highest = max(payload["lease"]["token"] for payload in granted)
    master, workers = live_server.pid, live_server.workers()

    live_server.kill9()

    assert not alive(master)
    assert not any(alive(pid) for pid in workers)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{live_server.base_url}/healthz", timeout=5)

    live_server.restart()
    client = live_server.client()

    assert client.leases() == before
    for lease in before:
        assert client.lease(lease["obj"]) == lease
    assert client.lease(3) is None
    # A client that lost the answer in the crash retries and gets its lease, not another.
    retried = client.acquire(owner="dave", requestId="retry-me")
    assert retried["lease"] == granted[4]["lease"]
    after = client.acquire(owner="erin")
    assert after["success"] is True
    assert after["lease"]["token"] > highest
    # Objects never used come first, so the object freed before the crash waits its turn.
    assert after["lease"]["obj"] == 6
    assert client.pool()["inUse"] == 5
