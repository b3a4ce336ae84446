"""The SQLite store's runs of available objects and skips of fresh ones (rules R10,
R11): kept exact by every change, found without scanning the pool, and written
by no fresh grant.

`layout_of` reads a pool's rows and checks them against what its objects say:
every object below next_fresh held, freed or cooling; nothing from the tail up
used; the runs exactly the islands of available objects below the tail.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pool.errors import ObjectHeld, OutOfRange, PoolExhausted
from app.pool.lease import AcquireRequest, Caller, RevokeFilter
from app.pool.policy import PoolPolicy
from app.stores.sqlite import SQLiteStore, runs
from app.stores.sqlite.schema import SPAN_CAP

from .conftest import Clock
from .support.fills import fill_sqlite_leases

ANYONE = Caller.auth_off()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "objmgr.sqlite3", clock=clock, reaper=False, synchronous="OFF")
    yield store
    store.close()


def islands(objects: set[int]) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for obj in sorted(objects):
        if found and found[-1][1] == obj - 1:
            found[-1] = (found[-1][0], obj)
        else:
            found.append((obj, obj))
    return found


class Layout:
    """A pool's objects as its rows hold them, checked against each other."""

    def __init__(self, conn: sqlite3.Connection, pool: str, now: float) -> None:
        size, next_fresh, next_skip, skip_top, held, cooling = conn.execute(
            "SELECT size, next_fresh, next_skip, skip_top, held, cooling FROM pools WHERE name = ?",
            (pool,),
        ).fetchone()
        self.size, self.tail = size, max(next_fresh, skip_top + 1)
        leases = dict(conn.execute("SELECT obj, expires_at FROM leases WHERE pool = ?", (pool,)))
        cooled = dict(conn.execute("SELECT obj, until FROM cooling WHERE pool = ?", (pool,)))
        freed = {
            obj for (obj,) in conn.execute("SELECT obj FROM free_objects WHERE pool = ?", (pool,))
        }
        skips = conn.execute("SELECT start, stop FROM skips WHERE pool = ?", (pool,)).fetchall()
        run_rows = conn.execute(
            "SELECT start, stop, span FROM free_runs WHERE pool = ? ORDER BY start", (pool,)
        ).fetchall()
        used = set(leases) | set(cooled) | freed
        assert len(used) == len(leases) + len(cooled) + len(freed), "an object in two places"
        assert (held, cooling) == (len(leases), len(cooled))
        assert set(range(1, next_fresh)) <= used, "an object below next_fresh is lost"
        assert not used or max(used) < self.tail, "an object from the tail up was used"
        skipped = {obj for start, stop in skips for obj in range(start, stop + 1)}
        assert all(start > next_fresh for start, _ in skips)
        assert next_skip == min((start for start, _ in skips), default=None)
        assert skipped <= used, "a skipped object was never used"
        below_tail = freed | (set(range(next_fresh, self.tail)) - used)
        assert [(start, stop) for start, stop, _ in run_rows] == islands(below_tail)
        assert all(span == min(stop - start + 1, SPAN_CAP) for start, stop, span in run_rows)
        # What a grant at `now` can take: neither held by a live lease nor cooling.
        delay = conn.execute("SELECT reuse_delay FROM pools WHERE name = ?", (pool,)).fetchone()[0]
        self.available = set(range(1, size + 1))
        for obj, expires_at in leases.items():
            if expires_at is None or expires_at > now or (delay and expires_at + delay > now):
                self.available.discard(obj)
        for obj, until in cooled.items():
            if until > now:
                self.available.discard(obj)

    def lowest_run(self, count: int) -> int | None:
        for start, stop in islands(self.available):
            if stop - start + 1 >= count:
                return start
        return None


def layout_of(store: SQLiteStore, pool: str, now: float) -> Layout:
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        return Layout(conn, pool, now)


def test_fresh_grants_write_no_run_and_a_free_joins_its_neighbours(store: SQLiteStore) -> None:
    store.create_pool("p", 100)
    for _ in range(10):
        store.grant(AcquireRequest("p"))
    store.grant(AcquireRequest("p", count=20))
    layout_of(store, "p", 0)
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        assert conn.execute("SELECT count(*) FROM free_runs").fetchone()[0] == 0
        for obj in (5, 7, 6):
            store.free("p", obj, ANYONE, None)
        assert conn.execute("SELECT start, stop FROM free_runs").fetchall() == [(5, 7)]


# rule R11: a named object ahead of the fresh order is skipped once, then forgotten
def test_a_named_fresh_object_is_skipped_once_by_the_fresh_order(store: SQLiteStore) -> None:
    store.create_pool("p", 10)
    assert [lease.obj for lease in store.grant(AcquireRequest("p", obj=5)).leases] == [5]
    assert [lease.obj for lease in store.grant(AcquireRequest("p", obj=8)).leases] == [8]
    layout_of(store, "p", 0)
    store.free("p", 5, ANYONE, None)
    got = [store.grant(AcquireRequest("p")).leases[0].obj for _ in range(8)]
    assert got == [1, 2, 3, 4, 6, 7, 9, 10]
    layout_of(store, "p", 0)
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        assert conn.execute("SELECT count(*) FROM skips").fetchone()[0] == 0
    assert store.grant(AcquireRequest("p")).leases[0].obj == 5


# rule R10: fresh and freed objects make one run, through the tail
def test_a_contiguous_run_spans_freed_skipped_and_fresh_objects(store: SQLiteStore) -> None:
    store.create_pool("p", 12)
    store.grant(AcquireRequest("p", count=4))
    store.grant(AcquireRequest("p", obj=6))
    store.free("p", 3, ANYONE, None)
    store.free("p", 4, ANYONE, None)
    store.free("p", 6, ANYONE, None)
    got = store.grant(AcquireRequest("p", count=8, contiguous=True))
    assert [lease.obj for lease in got.leases] == list(range(3, 11))
    layout = layout_of(store, "p", 0)
    assert layout.available == {11, 12}


@pytest.mark.parametrize("seed", range(4))
def test_the_runs_stay_the_islands_of_available_objects_through_every_change(
    store: SQLiteStore, clock: Clock, seed: int
) -> None:
    """Grants of every kind, frees, expiries, cooling, revocations and resizes in a
    seeded order; after each, the rows agree and a contiguous grant takes the
    lowest run that the objects themselves say is there. The pool stays at most
    30, under a write's reclaim batch, so every write sees every expiry."""
    rng = random.Random(seed)
    store.create_pool("p", 30)
    seen: set[str] = set()
    for _ in range(300):
        before = layout_of(store, "p", clock())
        step = rng.random()
        ttl = rng.choice([None, None, 2.0, 5.0])
        owner = rng.choice(["a", "b"])
        try:
            if step < 0.25:
                store.grant(AcquireRequest("p", owner=owner, ttl=ttl, count=rng.randint(1, 3)))
            elif step < 0.45:
                count = rng.randint(2, 6)
                expected = before.lowest_run(count)
                try:
                    got = store.grant(
                        AcquireRequest("p", owner=owner, ttl=ttl, count=count, contiguous=True)
                    )
                except PoolExhausted:
                    assert expected is None
                else:
                    assert [lease.obj for lease in got.leases] == list(
                        range(expected or 0, (expected or 0) + count)
                    )
                    seen.add("contiguous")
            elif step < 0.6:
                obj = rng.randint(1, 32)
                try:
                    store.grant(AcquireRequest("p", owner=owner, ttl=ttl, obj=obj))
                except (ObjectHeld, OutOfRange):
                    assert obj not in before.available
                else:
                    assert obj in before.available
                    seen.add("named")
            elif step < 0.8:
                held = store.leases("p", 100, 0)
                if held:
                    store.free("p", rng.choice(held).obj, ANYONE, None)
            elif step < 0.85:
                if store.revoke("p", RevokeFilter(owner=owner)):
                    seen.add("revoked")
            elif step < 0.9:
                store.resize_pool("p", rng.randint(20, 30))
            elif step < 0.95:
                delay = rng.choice([None, 3.0])
                store.set_policy("p", PoolPolicy(reuse_delay=delay, reuse_first=rng.random() < 0.5))
            else:
                clock.advance(rng.uniform(0.5, 4.0))
        except PoolExhausted:
            pass
        if store.pool("p").cooling:  # type: ignore[union-attr]
            seen.add("cooling")
    layout_of(store, "p", clock())
    assert seen == {"contiguous", "named", "revoked", "cooling"}


def test_a_contiguous_search_does_not_scan_the_pool(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, reaper=False, synchronous="OFF")
    store.create_pool("p", 100_000)
    fill_sqlite_leases(path, "p", 20_000, 1.0)
    # A thousand runs of one object each, below a tail of 80,000 fresh ones.
    for obj in range(2, 2_001, 2):
        store.free("p", obj, ANYONE, None)
    # And one run of three above them all: the search goes to it by its span,
    # not through the thousand runs that start lower.
    for obj in (19_990, 19_991, 19_992):
        store.free("p", obj, ANYONE, None)
    steps = 0

    def count_steps() -> int:
        nonlocal steps
        steps += 1
        return 0

    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.set_progress_handler(count_steps, 1000)
        assert runs.lowest_run(conn, "p", 2, 100_000, 20_001) == 19_990
        assert runs.lowest_run(conn, "p", 4, 100_000, 20_001) == 20_001
        assert runs.lowest_run(conn, "p", 1, 100_000, 20_001) == 2
    # One probe per distinct span: a scan of the thousand runs would take more.
    assert steps < 10
    taken = store.grant(AcquireRequest("p", count=3, contiguous=True)).leases
    assert [lease.obj for lease in taken] == [19_990, 19_991, 19_992]
    taken = store.grant(AcquireRequest("p", count=3, contiguous=True)).leases
    assert [lease.obj for lease in taken] == [20_001, 20_002, 20_003]
    store.close()


# rules R10, R6: a run longer than the largest count, and one the size cuts
def test_a_long_run_and_a_run_across_the_size_are_found(store: SQLiteStore) -> None:
    store.create_pool("p", 3000)
    for _ in range(3):
        store.grant(AcquireRequest("p", count=1000))
    for obj in range(1, 1501):
        store.free("p", obj, ANYONE, None)
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        assert conn.execute("SELECT start, stop, span FROM free_runs").fetchall() == [
            (1, 1500, SPAN_CAP)
        ]
    got = store.grant(AcquireRequest("p", count=1000, contiguous=True))
    assert [lease.obj for lease in got.leases] == list(range(1, 1001))
    store.resize_pool("p", 1200)
    # 1001..1500 are free, but only 1001..1200 are within the size.
    with pytest.raises(PoolExhausted):
        store.grant(AcquireRequest("p", count=201, contiguous=True))
    got = store.grant(AcquireRequest("p", count=200, contiguous=True))
    assert [lease.obj for lease in got.leases] == list(range(1001, 1201))
    layout_of(store, "p", 0)
    store.resize_pool("p", 3000)
    got = store.grant(AcquireRequest("p", count=300, contiguous=True))
    assert [lease.obj for lease in got.leases] == list(range(1201, 1501))
