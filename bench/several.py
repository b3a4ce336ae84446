"""What taking several objects costs, and what `reuseFirst` saves, side by side in one run.

    make bench-several     # or: .venv/bin/python -m bench.several [--stores sqlite,redis]
                           #     [--cycles 1000000] [--held 1000000]

For each store, through the store's own operations (one durable transaction or one
script each, as the server makes them):

1. `grant(count=100)` and `grant(count=100, contiguous=True)` in a pool with nothing
   held, next to the same in a pool with 10^6 held, and with 10^6 held and every
   other one of the first 10^5 objects given back (10^5 single-object holes, none of
   which a contiguous run can use). Target: each within a few per cent of the
   empty pool's; a contiguous request never scans the holes.
2. Storage after `--cycles` acquire/free cycles with 100 held at once in a pool of
   2*10^9, with and without `reuseFirst`: the rows (SQLite: leases, free objects, runs,
   skips, cooling) or the bytes of the pool's keys (Redis: MEMORY USAGE) the store
   keeps, the journal left out (it keeps OBJMGR_EVENTS_KEEP events whatever the churn). Target with
   `reuseFirst`: bounded by the peak in use (100), whatever the cycles.

`--stores memory` runs part 1 alone, in this process, for a quick look.

Everything runs on loopback and in a scratch directory removed at the end; the
redis-server it starts is stopped by its pid.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from app.pool.lease import AcquireRequest, Caller, RevokeFilter
from app.pool.policy import PoolPolicy
from app.stores import open_store
from app.stores.base import Store
from app.stores.redis.model import events_key, pool_keys
from tests.support.redis_server import launch_redis

ROUNDS = 200
COUNT = 100
FILL_STEP = 1000
HOLES = 100_000
PEAK = 100
HUGE = 2_000_000_000
ADMIN = Caller.auth_off()


def timed_grants(store: Store, pool: str, contiguous: bool) -> float:
    """Mean seconds of one grant of COUNT objects; each set is given back by a
    revoke (not timed), so every round meets the same pool."""
    spent = 0.0
    for _ in range(ROUNDS):
        began = time.perf_counter()
        grant = store.grant(AcquireRequest(pool, count=COUNT, contiguous=contiguous))
        spent += time.perf_counter() - began
        objs = frozenset(lease.obj for lease in grant.leases)
        store.revoke(pool, RevokeFilter(objs=objs), None)
    return spent / ROUNDS


def fill(store: Store, pool: str, held: int) -> None:
    for _ in range(held // FILL_STEP):
        store.grant(AcquireRequest(pool, count=FILL_STEP))


def punch_holes(store: Store, pool: str) -> None:
    """Give back every other object of the first HOLES: freed objects, no two adjacent."""
    for start in range(2, HOLES + 1, 2 * FILL_STEP):
        objs = frozenset(range(start, min(start + 2 * FILL_STEP, HOLES + 1), 2))
        store.revoke(pool, RevokeFilter(objs=objs), None)


def grant_costs(make: Callable[[], Store], held: int) -> None:
    store = make()
    try:
        store.create_pool("empty", 4 * held)
        store.create_pool("held", 4 * held)
        fill(store, "held", held)
        print(f"  grant of {COUNT}, mean of {ROUNDS}:")
        for contiguous in (False, True):
            empty = timed_grants(store, "empty", contiguous)
            full = timed_grants(store, "held", contiguous)
            kind = "contiguous" if contiguous else "any       "
            print(
                f"    {kind}  empty {empty * 1e3:7.3f} ms   {held:,} held {full * 1e3:7.3f} ms"
                f"   ratio {full / empty:5.2f}"
            )
        punch_holes(store, "held")
        holed = timed_grants(store, "held", True)
        empty = timed_grants(store, "empty", True)
        print(
            f"    contiguous with {HOLES // 2:,} single holes {holed * 1e3:7.3f} ms"
            f"   ratio to empty {holed / empty:5.2f}"
        )
    finally:
        store.close()


def churn(store: Store, pool: str, cycles: int) -> None:
    """PEAK held at once; each cycle frees the oldest and takes one more."""
    held = [lease.obj for lease in store.grant(AcquireRequest(pool, count=PEAK)).leases]
    for cycle in range(cycles):
        store.free(pool, held[cycle % PEAK], ADMIN, None)
        held[cycle % PEAK] = store.acquire(AcquireRequest(pool)).obj


#: The SQLite tables that hold a pool's objects (the journal, bounded by
#: OBJMGR_EVENTS_KEEP whatever the churn, is left out).
OBJECT_TABLES = ("leases", "free_objects", "free_runs", "skips", "cooling", "cooling_ends")


def sqlite_rows(path: Path, pool: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return sum(
            conn.execute(f"SELECT count(*) FROM {table} WHERE pool = ?", (pool,)).fetchone()[0]
            for table in OBJECT_TABLES
        )


def storage(
    make: Callable[[], Store], measure: Callable[[str], int], unit: str, cycles: int
) -> None:
    store = make()
    try:
        print(f"  storage after {cycles:,} acquire/free cycles, {PEAK} held at once:")
        for reuse_first in (False, True):
            pool = "reuse" if reuse_first else "fresh"
            store.create_pool(pool, HUGE, policy=PoolPolicy(reuse_first=reuse_first))
            began = time.monotonic()
            churn(store, pool, cycles)
            took = time.monotonic() - began
            print(
                f"    reuseFirst {str(reuse_first).lower():5}  {measure(pool):>12,} {unit}"
                f"   ({took:.0f} s)"
            )
    finally:
        store.close()


@contextlib.contextmanager
def redis_url(scratch: Path) -> Iterator[str]:
    server = launch_redis(scratch / "redis")
    try:
        yield server.url
    finally:
        server.stop()


def redis_bytes(url: str) -> Callable[[str], int]:
    import redis

    client = redis.Redis.from_url(url)

    def measure(pool: str) -> int:
        # The journal is bounded by OBJMGR_EVENTS_KEEP whatever the churn: left out.
        keys = [key for key in pool_keys(pool) if key != events_key(pool)]
        return sum(int(client.memory_usage(key) or 0) for key in keys)

    return measure


def sqlite_part(scratch: Path, held: int, cycles: int) -> None:
    grants = f"sqlite:///{scratch / 'grants.sqlite3'}"
    grant_costs(lambda: open_store(grants), held)
    path = scratch / "churn.sqlite3"
    storage(
        lambda: open_store(f"sqlite:///{path}"),
        lambda pool: sqlite_rows(path, pool),
        "rows",
        cycles,
    )


def redis_part(scratch: Path, held: int, cycles: int) -> None:
    with redis_url(scratch) as url:
        grant_costs(lambda: open_store(url), held)
        storage(lambda: open_store(url), redis_bytes(url), "bytes", cycles)


def memory_part(scratch: Path, held: int, cycles: int) -> None:
    grant_costs(lambda: open_store("memory://"), held)


PARTS = {"sqlite": sqlite_part, "redis": redis_part, "memory": memory_part}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stores", default="sqlite,redis", help="comma-separated: sqlite,redis,memory"
    )
    parser.add_argument("--cycles", type=int, default=1_000_000)
    parser.add_argument("--held", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    # A SIGTERM unwinds like an error, so the redis-server and scratch directory go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    names = [name for name in args.stores.split(",") if name]
    unknown = set(names) - set(PARTS)
    if unknown:
        parser.error(f"unknown stores: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="objmgr-bench-") as folder:
        for name in names:
            print(f"== the {name} store")
            PARTS[name](Path(folder), args.held, args.cycles)
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
