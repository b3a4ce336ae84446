"""What the Redis store's bounds buy, side by side in one run.

    .venv/bin/python -m bench.redis_bounds [--expiring N] [--held N] [--waiters N]

Starts a redis-server of its own (tests/support/redis_server.py: a free loopback port,
its own data dir, `appendfsync always`) and prints:

- acquire latency p50/p99/max while nothing expires, and while a burst of
  N leases (default 100,000) that expired together is reclaimed by the
  reaper in bounded batches (target: max < 50 ms), with what Redis itself
  reports meanwhile: its slowest script, its slowest fsync, which with
  `appendfsync always` every write waits for (a slow disk shows there), and
  the AOF rewrites it made (none is expected: see `rewrite_aof`);
- `pool { inUse }` (the store's stats script) with 10^3 and with N (default
  10^6) leases held, and their ratio (target < 1.5);
- hand-off latency p50/p99 with N waiters (default 1,000) on two store handles
  (two workers' worth): from a free's reply to its waiter's grant
  (target p99 < 50 ms);
- CPU of a live gunicorn (gevent workers, the Redis store) and its Redis
  with N waiting acquires (default 1,000) against none, over the same idle
  stretch (target < 5% of a core).

Leases are written straight into the store's keys by one script (the model of
app/stores/redis/model.py; tests/support/fills.py), so that a million cost seconds, not hours.
Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import functools
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from objmgr_client.operations import ACQUIRE

from app.pool.lease import AcquireRequest, Caller, PoolStats
from app.service import LeaseService
from app.stores.redis import RedisStore
from app.stores.redis.model import pool_keys
from tests.conditions import wait_until
from tests.support.fills import fill_redis_leases
from tests.support.processes import cpu_seconds
from tests.support.redis_server import RedisServer
from tests.support.sockets import address_of, post_request, sending

from .servers import StoreRun, serving

TARGET_MAX_MS = 50.0
TARGET_RATIO = 1.5
TARGET_HANDOFF_P99_MS = 50.0
TARGET_IDLE_CORE = 0.05
IDLE_SECONDS = 5.0

WAITING_ACQUIRE = {"query": ACQUIRE, "variables": {"wait": 600}}


def wait_for_waiters(pool: Callable[[], PoolStats | None], count: int) -> None:
    def all_waiting() -> bool:
        stats = pool()
        return stats is not None and stats.waiting == count

    wait_until(all_waiting, 300, f"{count:,} waiters")


def make_leases(server: RedisServer, pool: str, count: int, ttl: float | None = None) -> None:
    with server.client(timeout=60) as client:
        fill_redis_leases(client, pool, count, ttl=ttl)


def rewrite_aof(server: RedisServer) -> None:
    """Rewrite the append-only file now, and return once Redis writes to the new one.

    The leases above went in all at once, into an append-only file whose base
    is empty; Redis rewrites a file once it has grown by a share of its base,
    so this one is due as soon as it passes Redis' minimum size, which the
    reaper's writes then reach in the middle of the burst. Finishing a rewrite
    frees the old file, and the next fsync on that disk waits for it: the
    acquire caught then measures the rewrite, which stalls an acquire as much
    with nothing expiring at all. A server that has been running rewrote its
    file before, so its base holds its leases and its next rewrite waits for
    that much growth again; that is the file the reap is measured against,
    and the rewrites printed beside the latencies say if one still fell in.
    """
    with server.client(timeout=60) as client:
        client.bgrewriteaof()
        while True:
            info = client.info("persistence")
            if not (info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]):
                return
            time.sleep(0.05)


def ms(seconds: list[float], share: float) -> float:
    ordered = sorted(seconds)
    return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(action: Callable[[], object], times: int) -> list[float]:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        spent.append(time.perf_counter() - started)
    return spent


# 1. acquires during a mass expiry ---------------------------------------------------------
class RedisSide:
    """What Redis itself reports for a stretch: its slowest script, its slowest fsync,
    and how many times it rewrote its append-only file."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.script_ms = self.fsync_ms = 0.0
        self.rewrites = 0

    def __enter__(self) -> RedisSide:
        with self.server.client() as client:
            client.config_set("slowlog-log-slower-than", 1000)
            client.config_set("slowlog-max-len", 1024)
            client.config_set("latency-monitor-threshold", 1)
            client.slowlog_reset()
            client.execute_command("LATENCY", "RESET")
            self.rewrites = -client.info("persistence")["aof_rewrites"]
        return self

    def __exit__(self, *_exc: object) -> None:
        with self.server.client() as client:
            scripts = [
                entry["duration"]
                for entry in client.slowlog_get(1024)
                if entry["command"].startswith(b"EVALSHA")
            ]
            self.script_ms = max(scripts, default=0) / 1000
            for event in client.execute_command("LATENCY", "LATEST"):
                if event[0] == b"aof-fsync-always":
                    self.fsync_ms = float(event[3])
            self.rewrites += client.info("persistence")["aof_rewrites"]


def acquire_latency(
    server: RedisServer, expiring: int
) -> tuple[list[float], list[float], RedisSide]:
    store = RedisStore(server.url)
    # Never-used objects for ever: every acquire is granted, and nothing is freed.
    store.ensure_pool("quiet", 2_000_000_000)
    service = LeaseService(store)

    def cycle() -> None:
        service.acquire(Caller.auth_off(), "quiet")

    quiet = timed(cycle, 2000)
    store.ensure_pool("burst", expiring + 10)
    make_leases(server, "burst", expiring, ttl=1)
    rewrite_aof(server)
    time.sleep(1.2)  # until they all expired
    expiry_key = pool_keys("burst")[5]
    during = []
    with server.client() as client, RedisSide(server) as redis_side:
        # A lease with a TTL starts this process's reaper on the burst's pool.
        store.acquire(AcquireRequest("burst", ttl=3600))
        for _ in range(1_000_000):
            started = time.perf_counter()
            cycle()
            during.append(time.perf_counter() - started)
            if len(during) % 50 == 0 and client.zcard(expiry_key) <= 1:
                break
    store.close()
    return quiet, during, redis_side


# 2. pool { inUse } against how many are held ----------------------------------------------
def in_use_cost(server: RedisServer, held: int) -> tuple[float, float]:
    store = RedisStore(server.url)
    medians = []
    for name, count in (("small", 1000), ("large", held)):
        store.ensure_pool(name, count + 10)
        make_leases(server, name, count)
        assert (stats := store.pool(name)) is not None and stats.in_use == count
        medians.append(statistics.median(timed(functools.partial(store.pool, name), 1000)))
    store.close()
    return medians[0], medians[1]


# 3. hand-off with many waiters --------------------------------------------------------------
def handoff(server: RedisServer, waiters: int) -> list[float]:
    stores = [RedisStore(server.url) for _ in range(2)]
    services = [LeaseService(store, max_wait=600) for store in stores]
    stores[0].ensure_pool("handoff", 1)
    held = services[0].acquire(Caller.auth_off(), "handoff")
    granted: queue.Queue[tuple[float, int]] = queue.Queue()

    def wait(number: int) -> None:
        lease = services[number % 2].acquire(Caller.auth_off(), "handoff", wait=600)
        granted.put((time.perf_counter(), lease.obj))

    threads = [threading.Thread(target=wait, args=(n,), daemon=True) for n in range(waiters)]
    for thread in threads:
        thread.start()
    wait_for_waiters(lambda: services[0].pool("handoff"), waiters)
    latencies = []
    obj = held.obj
    for _ in range(waiters):
        services[1].free(Caller.auth_off(), obj, "handoff")
        freed = time.perf_counter()
        got, obj = granted.get(timeout=30)
        latencies.append(got - freed)
    for store in stores:
        store.close()
    return latencies


# 4. idle CPU of waiting acquires on a live server --------------------------------------------
def idle_cpu(
    server: RedisServer, scratch: Path, waiters: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    run = StoreRun("redis", server.url, 2, env={"OBJMGR_MAX_WAIT": "600", "OBJMGR_POOL_SIZE": "1"})
    assert server.process is not None
    with serving(run, scratch) as live:
        address = address_of(live.url)
        request = post_request(WAITING_ACQUIRE)
        with sending(address, request, 1) as first:
            first[0].recv(65536)  # the one object, held from now on
            idle = cpu_share(live.group, server.process.pid)
            with sending(address, request, waiters):
                store = RedisStore(server.url)
                wait_for_waiters(lambda: store.pool("default"), waiters)
                store.close()
                busy = cpu_share(live.group, server.process.pid)
    return idle, busy


def cpu_share(group: int, redis_pid: int) -> tuple[float, float]:
    """Shares of a core that gunicorn's processes and redis-server used, idle."""

    def both() -> tuple[float, float]:
        everything = cpu_seconds(group, (redis_pid,)) or 0.0
        server = cpu_seconds(group) or 0.0
        return server, everything - server

    before = both()
    started = time.monotonic()
    time.sleep(IDLE_SECONDS)
    after = both()
    spent = time.monotonic() - started
    return (after[0] - before[0]) / spent, (after[1] - before[1]) / spent


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expiring", type=int, default=100_000)
    parser.add_argument("--held", type=int, default=1_000_000)
    parser.add_argument("--waiters", type=int, default=1_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="objmgr-bounds-") as scratch:
        server = RedisServer(Path(scratch) / "data")
        server.start()
        try:
            quiet, during, redis_side = acquire_latency(server, args.expiring)
            small, large = in_use_cost(server, args.held)
            handed = handoff(server, args.waiters)
            idle, busy = idle_cpu(server, Path(scratch), args.waiters)
        finally:
            server.stop()
    print(f"{'acquire latency (another pool)':<40} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, spent in (
        ("nothing expiring", quiet),
        (f"{args.expiring:,} expired, being reaped", during),
    ):
        print(f"{label:<40} {ms(spent, 0.5):8.2f} {ms(spent, 0.99):8.2f} {max(spent) * 1000:8.2f}")
    worst = max(during) * 1000
    print(f"  target max < {TARGET_MAX_MS:g} ms: {verdict(worst < TARGET_MAX_MS)}")
    print(
        f"  meanwhile in Redis: slowest script {redis_side.script_ms:.2f} ms, "
        f"slowest fsync (appendfsync always) {redis_side.fsync_ms:.0f} ms, "
        f"AOF rewrites {redis_side.rewrites}"
    )
    print(f"\n{'pool { inUse } (stats script)':<40} {'median us':>10}")
    print(f"{'1,000 held':<40} {small * 1e6:10.1f}")
    print(f"{f'{args.held:,} held':<40} {large * 1e6:10.1f}")
    ratio = large / small
    print(f"  ratio {ratio:.2f}, target < {TARGET_RATIO:g}: {verdict(ratio < TARGET_RATIO)}")
    p99 = ms(handed, 0.99)
    print(f"\nhand-off, {args.waiters:,} waiters on two handles")
    print(f"  p50 {ms(handed, 0.5):.2f} ms, p99 {p99:.2f} ms, max {max(handed) * 1000:.2f} ms")
    print(f"  target p99 < {TARGET_HANDOFF_P99_MS:g} ms: {verdict(p99 < TARGET_HANDOFF_P99_MS)}")
    print(f"\nCPU of gunicorn (2 gevent workers) and redis-server, {IDLE_SECONDS:g} s idle")
    for label, (workers, redis_cpu) in (("0", idle), (f"{args.waiters:,}", busy)):
        print(
            f"  {label} waiters: {(workers + redis_cpu) * 100:.2f}% of a core "
            f"(gunicorn {workers * 100:.2f}%, redis-server {redis_cpu * 100:.2f}%)"
        )
    extra = sum(busy) - sum(idle)
    print(f"  target < {TARGET_IDLE_CORE * 100:g}%: {verdict(extra < TARGET_IDLE_CORE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
