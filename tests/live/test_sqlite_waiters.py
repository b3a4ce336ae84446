"""Waiters on real gunicorn workers sharing one SQLite file: a stopped worker
keeps its waiters' places, and a thousand waiters cost no CPU while they wait."""

from __future__ import annotations

import concurrent.futures
import time

import pytest
import requests
from objmgr_client.operations import ACQUIRE

from ..support.processes import cpu_seconds
from ..support.sockets import address_of, post_request, sending
from .support import HTTP_TIMEOUT, LiveServer, wait_until

pytestmark = pytest.mark.live

IDLE_WAITERS = 1000
# Generous: waiters that poll or beat cost whole cores; waiting ones cost nothing.
IDLE_CPU_SHARE = 0.10


def test_a_stopped_worker_keeps_its_waiters_places(live_server: LiveServer) -> None:
    live_server.start({"OBJMGR_WORKERS": "2", "OBJMGR_POOL_SIZE": "1"})
    holder = live_server.client()
    assert holder.acquire(owner="holder")["success"]
    stalled, running = live_server.workers()

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as executor:
        with live_server.only_worker(stalled):
            first = executor.submit(live_server.acquire_once, owner="first", wait=25)
            wait_until(lambda: live_server.waiting() == 1, 10, "the first waiter to queue")
        with live_server.only_worker(running):
            second = executor.submit(live_server.acquire_once, owner="second", wait=25)
            wait_until(lambda: live_server.waiting() == 2, 10, "the second waiter to queue")
            # The first waiter's worker is stopped (a long request, SIGSTOP), not dead.
            freer = live_server.client()
            assert freer.free(1)["success"] is True
            # Longer than a heartbeat-based liveness would have let it keep its place.
            time.sleep(1.5)
            assert not second.done()
            assert freer.lease(1) is None
            assert live_server.waiting() == 2
        got = first.result(timeout=HTTP_TIMEOUT)
        assert (got["success"], got["lease"]["obj"]) == (True, 1), got
        assert holder.free(1)["success"] is True
        got = second.result(timeout=HTTP_TIMEOUT)
        assert (got["success"], got["lease"]["owner"]) == (True, "second"), got


def cpu_of(pids: list[int]) -> float:
    used = cpu_seconds(pids=pids)
    assert used is not None, "no /proc to read CPU time from"
    return used


def test_a_thousand_waiters_cost_no_cpu_while_they_wait(live_server: LiveServer) -> None:
    live_server.start({"OBJMGR_WORKERS": "2", "OBJMGR_POOL_SIZE": "1"})
    observer = live_server.client()
    assert observer.acquire(owner="holder")["success"]
    waiter = post_request({"query": ACQUIRE, "variables": {"owner": "idle", "wait": 25}})
    with sending(address_of(live_server.base_url), waiter, IDLE_WAITERS, timeout=10):
        wait_until(lambda: observer.pool()["waiting"] == IDLE_WAITERS, 30, "every waiter")
        workers = live_server.workers()
        before, started = cpu_of(workers), time.monotonic()
        time.sleep(3.0)
        used = cpu_of(workers) - before
        elapsed = time.monotonic() - started
        assert used / elapsed < IDLE_CPU_SHARE, f"{used:.2f} s of CPU in {elapsed:.1f} s"
        answered = time.monotonic()
        assert requests.get(f"{live_server.base_url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - answered < 1.0
        # The oldest waiter gets the object freed, and only it.
        assert observer.free(1)["success"] is True
        wait_until(lambda: observer.lease(1) is not None, 10, "a waiter to be served")
        assert observer.pool()["waiting"] == IDLE_WAITERS - 1
    # Waiters whose clients left go within about a second each, all together.
    wait_until(lambda: observer.pool()["waiting"] == 0, 30, "the waiters to leave")
