"""What only the SQLite store has of pool policies: layout 5 migrated from layout 4
with everything kept, counts that cost the same at many cooling as at few,
cooled objects and revocations moved in bounded batches, and maxPerOwner
counted up to its limit only."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.pool.errors import QuotaExceeded
from app.pool.events import Event, EventKind
from app.pool.lease import AcquireRequest, Caller, RevokeFilter
from app.pool.policy import NO_POLICY, PoolPolicy
from app.stores.sqlite import RECLAIM_PER_WRITE, SQLiteStore, counts, objects, rows, schema
from app.stores.sqlite.granting import REVOKE_BATCH

from .conditions import wait_until
from .conftest import Clock
from .support.fills import fill_sqlite_leases

ANYONE = Caller.auth_off()

# The layout version 4 wrote, as it wrote it, with a pool in use.
FOURTH_LAYOUT = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE pools (name TEXT PRIMARY KEY, size INTEGER NOT NULL,
    next_fresh INTEGER NOT NULL DEFAULT 1, created_at REAL NOT NULL,
    held INTEGER NOT NULL DEFAULT 0, held_above INTEGER NOT NULL DEFAULT 0,
    waiting INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE fencing (pool TEXT PRIMARY KEY, last_token INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE leases (pool TEXT NOT NULL, obj INTEGER NOT NULL, token INTEGER NOT NULL,
    owner TEXT, label TEXT, request_id TEXT, acquired_at REAL NOT NULL, expires_at REAL,
    ttl REAL, PRIMARY KEY (pool, obj)) WITHOUT ROWID;
CREATE TABLE expiries (pool TEXT NOT NULL, second INTEGER NOT NULL, leases INTEGER NOT NULL,
    PRIMARY KEY (pool, second)) WITHOUT ROWID;
CREATE TABLE free_objects (seq INTEGER PRIMARY KEY, pool TEXT NOT NULL, obj INTEGER NOT NULL,
    freed_at REAL NOT NULL DEFAULT 0);
CREATE TABLE listeners (id INTEGER PRIMARY KEY AUTOINCREMENT, pid INTEGER NOT NULL,
    started TEXT NOT NULL, address BLOB NOT NULL);
CREATE TABLE waiters (id INTEGER PRIMARY KEY AUTOINCREMENT, pool TEXT NOT NULL,
    listener INTEGER NOT NULL);
CREATE TABLE health (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at REAL NOT NULL);
CREATE TABLE events (pool TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
    at REAL NOT NULL, obj INTEGER, token INTEGER, owner TEXT, label TEXT, principal TEXT,
    reason TEXT, size INTEGER, expires_at REAL, PRIMARY KEY (pool, seq)) WITHOUT ROWID;
CREATE TABLE watchers (pool TEXT NOT NULL, listener INTEGER NOT NULL,
    PRIMARY KEY (pool, listener)) WITHOUT ROWID;
CREATE INDEX leases_by_expiry ON leases (pool, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX leases_expiring ON leases (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX leases_by_request ON leases (pool, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX free_objects_by_age ON free_objects (pool, freed_at, seq);
CREATE INDEX waiters_by_pool ON waiters (pool, id);
CREATE INDEX waiters_by_listener ON waiters (listener, pool);
CREATE INDEX watchers_by_listener ON watchers (listener);
INSERT INTO pools VALUES ('p', 10, 9, 1.0, 4, 0, 0), ('q', 3, 2, 1.0, 1, 0, 0);
INSERT INTO fencing VALUES ('p', 12), ('q', 1);
INSERT INTO leases VALUES ('p', 1, 9, 'alice', NULL, 'r-1', 1.0, NULL, NULL),
    ('p', 2, 10, 'alice', NULL, NULL, 1.0, 4000000000.0, 60.0),
    ('p', 5, 11, 'bob', NULL, NULL, 1.0, NULL, NULL),
    ('p', 8, 12, NULL, NULL, NULL, 1.0, NULL, NULL),
    ('q', 1, 1, 'alice', NULL, NULL, 1.0, NULL, NULL);
INSERT INTO expiries VALUES ('p', 4000000000, 1);
INSERT INTO free_objects (seq, pool, obj, freed_at) VALUES (1, 'p', 3, 5.0), (2, 'p', 4, 5.0),
    (3, 'p', 7, 4.0), (4, 'p', 6, 6.0);
INSERT INTO events (pool, seq, kind, at, size) VALUES ('p', 1, 'POOL_CREATED', 1.0, 10);
PRAGMA user_version = 4;
"""


def objs_of(store: SQLiteStore, request: AcquireRequest) -> list[int]:
    return [lease.obj for lease in store.grant(request).leases]


def table(path: Path, query: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(query).fetchall()


def test_a_file_of_layout_4_opens_as_layout_5_and_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(FOURTH_LAYOUT)
    store = SQLiteStore(path, reaper=False)

    stats = store.pool("p")
    assert stats is not None
    assert (stats.in_use, stats.available, stats.cooling, stats.policy) == (4, 6, 0, NO_POLICY)
    assert table(path, "PRAGMA user_version") == [(schema.VERSION,)]
    assert table(path, "PRAGMA integrity_check") == [("ok",)]
    # The runs are the islands of the free objects.
    assert table(path, "SELECT pool, start, stop, span FROM free_runs ORDER BY start") == [
        ("p", 3, 4, 2),
        ("p", 6, 7, 2),
    ]
    # Owners' leases come from the new index, expired or not, in (pool, object) order.
    assert [lease.obj for lease in store.leases("p", 10, 0, owner="alice")] == [1, 2]
    assert [(lease.pool, lease.obj) for lease in store.owner_leases("alice", 10)] == [
        ("p", 1),
        ("p", 2),
        ("q", 1),
    ]
    # The lowest run of two; then never used first, then the longest free, order kept.
    got = store.grant(AcquireRequest("p", count=2, contiguous=True))
    assert [(lease.obj, lease.token) for lease in got.leases] == [(3, 13), (4, 14)]
    assert objs_of(store, AcquireRequest("p", count=4)) == [9, 10, 7, 6]
    # A retry of a lease granted before the upgrade is still recognised.
    replayed = store.grant(AcquireRequest("p", owner="alice", request_id="r-1"))
    assert replayed.replayed and [lease.obj for lease in replayed.leases] == [1]
    # The journal carries on from the pool's last seq.
    store.set_policy("p", PoolPolicy(max_per_owner=2))
    assert [(e.seq, e.kind) for e in store.events("p", 0, 10)][-1] == (
        8,
        EventKind.POLICY_CHANGED,
    )
    with pytest.raises(QuotaExceeded):
        store.grant(AcquireRequest("p", owner="alice", obj=3))
    store.close()
    # Opened again, nothing is migrated twice.
    again = SQLiteStore(path, reaper=False)
    stats = again.pool("p")
    assert stats is not None
    assert (stats.in_use, stats.available, stats.policy) == (10, 0, PoolPolicy(max_per_owner=2))
    again.close()
    assert table(path, "PRAGMA integrity_check") == [("ok",)]


def read_steps(path: Path, now: float) -> tuple[int, tuple[int, int, int]]:
    """Progress-handler calls (one per 1,000 instructions) of the pool's counts
    read, and the counts (in use, available, cooling)."""
    steps = 0

    def count_steps() -> int:
        nonlocal steps
        steps += 1
        return 0

    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.set_progress_handler(count_steps, 1000)
        stats = counts.stats(conn, "p", rows.pool_row(conn, "p"), now, 0)
    return steps, (stats.in_use, stats.available, stats.cooling)


@pytest.mark.parametrize("cooling", [100, 20_000])
def test_counts_cost_the_same_however_many_objects_cool(
    tmp_path: Path, clock: Clock, cooling: int
) -> None:
    """Every stage of a mass expiry under a reuse delay, read at a bounded cost:
    leases expired but not reclaimed (counted as cooling), objects cooling, and
    objects whose cooling ended but which are not moved yet (counted available)."""
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, clock=clock, synchronous="OFF")
    store.create_pool("p", 2 * cooling, policy=PoolPolicy(reuse_delay=600))
    fill_sqlite_leases(path, "p", cooling, clock(), expires_in=10, ttl=10, stagger=1e-6)
    clock.advance(11)
    steps, seen = read_steps(path, clock())
    assert seen == (0, cooling, cooling) and steps < 20

    store.ping()
    wait_until(lambda: table(path, "SELECT count(*) FROM leases") == [(0,)], 120, "the reaper")
    store.close()
    assert table(path, "SELECT count(*), sum(until > 0) FROM cooling") == [(cooling, cooling)]
    steps, seen = read_steps(path, clock())
    assert seen == (0, cooling, cooling) and steps < 20

    clock.advance(600)
    steps, seen = read_steps(path, clock())
    assert seen == (0, 2 * cooling, 0) and steps < 20

    # rule R13: a write frees a bounded batch of them, the earliest ended first.
    writer = SQLiteStore(path, clock=clock, reaper=False, synchronous="OFF")
    assert objs_of(writer, AcquireRequest("p")) == [cooling + 1]
    assert table(path, "SELECT count(*) FROM cooling") == [(cooling - RECLAIM_PER_WRITE,)]
    # Object `cooling` expired first (the fill staggers them downwards).
    assert table(path, "SELECT obj FROM free_objects ORDER BY freed_at, seq LIMIT 1") == [
        (cooling,)
    ]
    stats = writer.pool("p")
    assert stats is not None and (stats.available, stats.cooling) == (2 * cooling - 1, 0)
    writer.close()


def test_a_revocation_of_many_commits_in_bounded_batches(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, clock=clock, reaper=False, synchronous="OFF")
    store.create_pool("p", 2000, policy=PoolPolicy(reuse_delay=30))
    fill_sqlite_leases(path, "p", 1000, clock())
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE leases SET owner = CASE WHEN obj % 2 = 0 THEN 'even' ELSE 'odd' END")
    commits: list[list[Event]] = []

    def heard(events: Sequence[Event]) -> None:
        commits.append([event for event in events if event.kind is EventKind.REVOKED])

    store.listen(heard)
    revoked = store.revoke("p", RevokeFilter(owner="even", reason="maintenance"))
    assert [lease.obj for lease in revoked] == list(range(2, 1001, 2))
    batches = [len(events) for events in commits if events]
    assert sum(batches) == 500 and max(batches) <= REVOKE_BATCH and len(batches) >= 2
    assert all(e.reason == "maintenance" for events in commits for e in events)
    stats = store.pool("p")
    assert stats is not None and (stats.in_use, stats.cooling, stats.available) == (500, 500, 1000)
    store.close()


def test_max_per_owner_counts_at_most_its_limit(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, clock=clock, reaper=False, synchronous="OFF")
    store.create_pool("p", 40_000)
    fill_sqlite_leases(path, "p", 20_000, clock())
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE leases SET owner = 'many'")
    store.set_policy("p", PoolPolicy(max_per_owner=5))
    with pytest.raises(QuotaExceeded):
        store.grant(AcquireRequest("p", owner="many"))
    assert objs_of(store, AcquireRequest("p", owner="few", count=5)) == list(range(20_001, 20_006))
    with pytest.raises(QuotaExceeded):
        store.grant(AcquireRequest("p", owner="few"))
    steps = 0

    def count_steps() -> int:
        nonlocal steps
        steps += 1
        return 0

    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.set_progress_handler(count_steps, 100)
        assert objects.owned(conn, "p", "many", clock(), 5) == 5
    # Counting 20,000 leases would take thousands of calls.
    assert steps < 10
    store.close()
