"""What the SQLite store's bounds cost, measured side by side in one run.

    .venv/bin/python -m bench.sqlite_bounds          # from the checkout's root

1. Acquire latency (p50/p99/max) while 100,000 leases expire together and
   the reaper reclaims them, next to the same acquires with nothing expiring.
   Each acquire is its own durable transaction (synchronous=FULL) on a scratch
   file. Target: max < 50 ms.
2. `pool(...)` (what `pool { inUse available waiting }` reads) at 10^3 and at
   10^6 leases held. Target: ratio < 1.5.
3. CPU of a real gunicorn server (2 gevent workers, from /proc) with 1,000
   waiting acquires, next to the same server with none. Target: < 5% of a core.
4. Hand-off with those 1,000 waiters: from a free's request sent to the oldest
   waiter's answer read, object after object. Target: p99 < 50 ms.

Everything runs on loopback and in a scratch directory removed at the end;
every process it starts is stopped by its pid (group) at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import sqlite3
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from objmgr_client.operations import ACQUIRE, FREE_DEFAULT, POOL

from app.pool.lease import AcquireRequest
from app.stores.sqlite import SQLiteStore
from tests.conditions import wait_until
from tests.support import gunicorn
from tests.support.fills import fill_sqlite_leases
from tests.support.processes import children, cpu_seconds
from tests.support.sockets import address_of, open_sending, post_request

EXPIRING = 100_000
ACQUIRES = 2_000
READS = 2_000
WAITERS = 1_000
HANDOFFS = 200
IDLE_SECONDS = 5.0

WAITING_ACQUIRE = {"query": ACQUIRE, "variables": {"owner": "idle", "wait": 120}}
FREE_ONE = {"query": FREE_DEFAULT, "variables": {"obj": 1}}


# 1. acquires during a mass expiry -------------------------------------------
def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e3:7.2f} ms   p99 {p99 * 1e3:7.2f} ms   max {ordered[-1] * 1e3:7.2f} ms"


def acquire_latencies(scratch: Path, expiring: bool) -> tuple[list[float], float | None]:
    path = scratch / ("expiring.sqlite3" if expiring else "quiet.sqlite3")
    store = SQLiteStore(path)
    store.create_pool("p", 4 * EXPIRING)
    now = time.time()
    expires_in = 1.0 if expiring else None
    fill_sqlite_leases(path, "p", EXPIRING, now, expires_in)
    if expires_in is not None:
        time.sleep(max(0.0, now + expires_in - time.time()) + 0.01)
    started = time.monotonic()
    latencies = []
    for _ in range(ACQUIRES):
        began = time.perf_counter()
        store.acquire(AcquireRequest("p"))
        latencies.append(time.perf_counter() - began)
    reclaimed_in = None
    if expiring:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            for _ in range(600):
                left = conn.execute(
                    "SELECT count(*) FROM leases WHERE expires_at IS NOT NULL"
                ).fetchone()[0]
                if left == 0:
                    reclaimed_in = time.monotonic() - started
                    break
                time.sleep(0.05)
    store.close()
    return latencies, reclaimed_in


# 2. pool reads at 10^3 and 10^6 held ------------------------------------------
def pool_read_seconds(scratch: Path, held: int) -> float:
    path = scratch / f"held-{held}.sqlite3"
    store = SQLiteStore(path, reaper=False)
    store.create_pool("p", 2 * held)
    fill_sqlite_leases(path, "p", held, time.time())
    stats = store.pool("p")
    assert stats is not None and stats.in_use == held
    began = time.perf_counter()
    for _ in range(READS):
        store.pool("p")
    seconds = (time.perf_counter() - began) / READS
    store.close()
    return seconds


# 3 and 4. a live server with a thousand waiters ------------------------------
@contextlib.contextmanager
def live_server(scratch: Path) -> Iterator[gunicorn.Gunicorn]:
    settings = {
        "OBJMGR_STORE": f"sqlite:///{scratch / 'live.sqlite3'}",
        "OBJMGR_WORKERS": "2",
        "OBJMGR_POOL_SIZE": "1",
        "OBJMGR_MAX_WAIT": "120",
    }
    with gunicorn.serving(settings, scratch) as server:
        yield server


def graphql(base: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def cpu_share(pids: list[int], seconds: float) -> float:
    def ticks() -> float:
        return cpu_seconds(pids=pids) or 0.0

    before, began = ticks(), time.monotonic()
    time.sleep(seconds)
    return (ticks() - before) / (time.monotonic() - began)


def waiting(base: str) -> int:
    answer = graphql(base, {"query": POOL})
    return int(answer["data"]["pool"]["waiting"])  # type: ignore[index]


def hand_offs(base: str, sockets: list[socket.socket]) -> list[float]:
    selector = selectors.DefaultSelector()
    for connection in sockets:
        connection.setblocking(False)
        selector.register(connection, selectors.EVENT_READ)
    freer = socket.create_connection(address_of(base))
    free = post_request(FREE_ONE, host="x")
    latencies = []
    for _ in range(HANDOFFS):
        began = time.perf_counter()
        freer.sendall(free)
        events = selector.select(timeout=30)
        if not events:
            raise RuntimeError("no waiter was served")
        latencies.append(time.perf_counter() - began)
        for key, _ in events:
            selector.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
        freer.recv(65536)
    freer.close()
    selector.close()
    return latencies


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="objmgr-bench-") as folder:
        scratch = Path(folder)
        print(f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs\n")

        quiet, _ = acquire_latencies(scratch, expiring=False)
        burst, reclaimed_in = acquire_latencies(scratch, expiring=True)
        print(f"acquire, {ACQUIRES} in a row (each its own durable transaction):")
        print(f"  nothing expiring           {percentiles(quiet)}")
        print(f"  {EXPIRING:,} expiring together  {percentiles(burst)}")
        if reclaimed_in is not None:
            print(f"  the reaper reclaimed all {EXPIRING:,} within {reclaimed_in:.1f} s")
        print("  target: max < 50 ms\n")

        small, large = pool_read_seconds(scratch, 1_000), pool_read_seconds(scratch, 1_000_000)
        print("pool(...) read (inUse, available, waiting):")
        print(f"  1,000 held      {small * 1e6:8.1f} µs")
        print(
            f"  1,000,000 held  {large * 1e6:8.1f} µs   ratio {large / small:.2f}   target < 1.5\n"
        )

        with live_server(scratch) as server:
            base = server.base_url
            graphql(base, {"query": ACQUIRE, "variables": {"owner": "holder"}})
            workers = children(server.process.pid)
            idle = cpu_share(workers, IDLE_SECONDS)
            sockets = open_sending(address_of(base), post_request(WAITING_ACQUIRE), WAITERS)
            wait_until(lambda: waiting(base) == WAITERS, 60, f"{WAITERS:,} waiters")
            busy = cpu_share(workers, IDLE_SECONDS)
            print(f"CPU of 2 gevent workers over {IDLE_SECONDS:g} s (share of one core):")
            print(f"  0 waiters       {idle * 100:6.2f} %")
            print(f"  {WAITERS:,} waiters   {busy * 100:6.2f} %   target < 5 %\n")
            latencies = hand_offs(base, sockets)
            print(f"hand-off from a free to the oldest of {WAITERS:,} waiters, {HANDOFFS} times:")
            print(f"  {percentiles(latencies)}   target: p99 < 50 ms")
            for connection in sockets:
                with contextlib.suppress(OSError):
                    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
