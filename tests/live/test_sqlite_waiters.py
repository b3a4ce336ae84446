"""Waiters on real gunicorn workers sharing one SQLite file: a stopped worker
keeps its waiters' places, and a thousand waiters cost no CPU while they wait."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from ..operations import ACQUIRE
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

    def wait_for_object(owner: str) -> dict[str, Any]:
        client = live_server.client()
        try:
            return client.acquire(owner=owner, wait=25)
        finally:
            client.close()

    def waiting() -> int:
        observer = live_server.client()
        try:
            return int(observer.pool()["waiting"])
        finally:
            observer.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as executor:
        with live_server.only_worker(stalled):
            first = executor.submit(wait_for_object, "first")
            wait_until(lambda: waiting() == 1, 10, "the first waiter to queue")
        with live_server.only_worker(running):
            second = executor.submit(wait_for_object, "second")
            wait_until(lambda: waiting() == 2, 10, "the second waiter to queue")
            # The first waiter's worker is stopped (a long request, SIGSTOP), not dead.
            freer = live_server.client()
            assert freer.free(1)["success"] is True
            # Longer than a heartbeat-based liveness would have let it keep its place.
            time.sleep(1.5)
            assert not second.done()
            assert freer.lease(1) is None
            assert waiting() == 2
        got = first.result(timeout=HTTP_TIMEOUT)
        assert (got["success"], got["lease"]["obj"]) == (True, 1), got
        assert holder.free(1)["success"] is True
        got = second.result(timeout=HTTP_TIMEOUT)
        assert (got["success"], got["lease"]["owner"]) == (True, "second"), got


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def open_waiting_acquires(base_url: str, count: int) -> list[socket.socket]:
    """`count` acquires with `wait` sent on connections of their own, answers unread."""
    host, port = base_url.removeprefix("http://").split(":")
    body = json.dumps({"query": ACQUIRE, "variables": {"owner": "idle", "wait": 25}}).encode()
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sockets = []
    for _ in range(count):
        connection = socket.create_connection((host, int(port)), timeout=10)
        connection.sendall(request)
        sockets.append(connection)
    return sockets


def test_a_thousand_waiters_cost_no_cpu_while_they_wait(live_server: LiveServer) -> None:
    live_server.start({"OBJMGR_WORKERS": "2", "OBJMGR_POOL_SIZE": "1"})
    observer = live_server.client()
    assert observer.acquire(owner="holder")["success"]
    sockets = open_waiting_acquires(live_server.base_url, IDLE_WAITERS)
    try:
        wait_until(lambda: observer.pool()["waiting"] == IDLE_WAITERS, 30, "every waiter")
        workers = live_server.workers()
        before, started = cpu_seconds(workers), time.monotonic()
        time.sleep(3.0)
        used = cpu_seconds(workers) - before
        elapsed = time.monotonic() - started
        assert used / elapsed < IDLE_CPU_SHARE, f"{used:.2f} s of CPU in {elapsed:.1f} s"
        answered = time.monotonic()
        assert requests.get(f"{live_server.base_url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - answered < 1.0
        # The oldest waiter gets the object freed, and only it.
        assert observer.free(1)["success"] is True
        wait_until(lambda: observer.lease(1) is not None, 10, "a waiter to be served")
        assert observer.pool()["waiting"] == IDLE_WAITERS - 1
    finally:
        for connection in sockets:
            with contextlib.suppress(OSError):
                connection.close()
    # Waiters whose clients left go within about a second each, all together.
    wait_until(lambda: observer.pool()["waiting"] == 0, 30, "the waiters to leave")
