"""What the SQLite store's bounds cost, measured side by side in one run.

    .venv/bin/python -m bench.sqlite_bounds          # from the checkout's root
    .venv/bin/python bench/sqlite_bounds.py

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
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from app.pool.lease import AcquireRequest
from app.stores.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
EXPIRING = 100_000
ACQUIRES = 2_000
READS = 2_000
WAITERS = 1_000
HANDOFFS = 200
IDLE_SECONDS = 5.0

ACQUIRE = 'mutation { acquireObject(owner: "idle", wait: 120) { success lease { obj token } } }'
FREE = "mutation { freeObject(obj: 1) { success } }"


# 1. acquires during a mass expiry -------------------------------------------
def insert_leases(path: Path, pool: str, count: int, expires_at: float | None) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
            "INSERT INTO leases (pool, obj, token, acquired_at, expires_at, ttl) "
            "SELECT :pool, i, i, :now, :expires, NULL FROM n",
            {"pool": pool, "count": count, "now": time.time(), "expires": expires_at},
        )
        conn.execute(
            "UPDATE pools SET next_fresh = :next, held = held + :count WHERE name = :pool",
            {"next": count + 1, "count": count, "pool": pool},
        )
        conn.execute("INSERT INTO fencing (pool, last_token) VALUES (?, ?)", (pool, count))
        conn.execute(
            "INSERT INTO expiries (pool, second, leases) SELECT pool, CAST(expires_at AS INTEGER), "
            "count(*) FROM leases WHERE pool = ? AND expires_at IS NOT NULL GROUP BY 1, 2",
            (pool,),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e3:7.2f} ms   p99 {p99 * 1e3:7.2f} ms   max {ordered[-1] * 1e3:7.2f} ms"


def acquire_latencies(scratch: Path, expiring: bool) -> tuple[list[float], float | None]:
    path = scratch / ("expiring.sqlite3" if expiring else "quiet.sqlite3")
    store = SQLiteStore(path)
    store.create_pool("p", 4 * EXPIRING)
    expires = time.time() + 1.0 if expiring else None
    insert_leases(path, "p", EXPIRING, expires)
    if expires is not None:
        time.sleep(max(0.0, expires - time.time()) + 0.01)
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
    insert_leases(path, "p", held, None)
    assert store.pool("p").in_use == held
    began = time.perf_counter()
    for _ in range(READS):
        store.pool("p")
    seconds = (time.perf_counter() - began) / READS
    store.close()
    return seconds


# 3 and 4. a live server with a thousand waiters ------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def gunicorn(scratch: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBJMGR_", "GUNICORN_"))}
    env.update(
        OBJMGR_STORE=f"sqlite:///{scratch / 'live.sqlite3'}",
        OBJMGR_BIND=f"127.0.0.1:{port}",
        OBJMGR_WORKERS="2",
        OBJMGR_POOL_SIZE="1",
        OBJMGR_MAX_WAIT="120",
    )
    log = (scratch / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            if healthy(base):
                break
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{(scratch / 'gunicorn.log').read_text()}")
            time.sleep(0.05)
        yield base, server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
        log.close()


def healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def graphql(base: str, query: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def workers_of(master: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == master:
                    found.append(int(entry.name))
    return found


def cpu_share(pids: list[int], seconds: float) -> float:
    def ticks() -> int:
        total = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total

    before, began = ticks(), time.monotonic()
    time.sleep(seconds)
    used = (ticks() - before) / os.sysconf("SC_CLK_TCK")
    return used / (time.monotonic() - began)


def waiting(base: str) -> int:
    answer = graphql(base, '{ pool(name: "default") { waiting } }')
    return int(answer["data"]["pool"]["waiting"])  # type: ignore[index]


def open_waiters(base: str, count: int) -> list[socket.socket]:
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({"query": ACQUIRE}).encode()
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sockets = []
    for _ in range(count):
        connection = socket.create_connection((host, int(port)), timeout=30)
        connection.sendall(request)
        sockets.append(connection)
    return sockets


def until(condition: Callable[[], bool], seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError("gave up waiting")


def hand_offs(base: str, sockets: list[socket.socket]) -> list[float]:
    selector = selectors.DefaultSelector()
    for connection in sockets:
        connection.setblocking(False)
        selector.register(connection, selectors.EVENT_READ)
    freer = socket.create_connection(tuple(base.removeprefix("http://").split(":")))  # type: ignore[arg-type]
    body = json.dumps({"query": FREE}).encode()
    free = (
        "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
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

        with gunicorn(scratch) as (base, server):
            graphql(base, 'mutation { acquireObject(owner: "holder") { success } }')
            workers = workers_of(server.pid)
            idle = cpu_share(workers, IDLE_SECONDS)
            sockets = open_waiters(base, WAITERS)
            until(lambda: waiting(base) == WAITERS, 60)
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
