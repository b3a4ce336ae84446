"""What only the SQLite store's journal has (rule R9): a table in the file, a layout
that earlier files are brought to, trims of bounded size, reads by key range, and
nothing told of a change whose transaction did not commit."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from pathlib import Path

import pytest

from app.pool.errors import StoreUnavailable
from app.pool.events import Event, EventKind
from app.pool.lease import AcquireRequest, Caller
from app.stores.sqlite import RECLAIM_PER_WRITE, SQLiteStore, schema
from app.stores.sqlite.journal import (
    APPEND_EVENT,
    LAST_SEQ,
    READ_EVENTS,
    TRIM_EVENTS,
    TRIM_EVERY,
    TRIM_PER_EVENT,
)

from .conftest import Clock
from .support.fills import fill_sqlite_leases
from .test_sqlite_faults import backup, delete_database

ANYONE = Caller.auth_off()


def count_events(path: Path, pool: str = "p") -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(
            conn.execute("SELECT count(*) FROM events WHERE pool = ?", (pool,)).fetchone()[0]
        )


def churn(store: SQLiteStore, rounds: int, pool: str = "p") -> None:
    """Two events a round: a grant and its free."""
    for _ in range(rounds):
        lease = store.acquire(AcquireRequest(pool))
        store.free(pool, lease.obj, ANYONE, lease.token)


# The layout before the journal: this one's tables and indexes, less the journal's.
SECOND_LAYOUT = [
    statement for statement in schema.TABLES + schema.INDEXES if "EXISTS events " not in statement
]


def test_a_file_of_the_layout_before_the_journal_opens_and_gains_it(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for statement in SECOND_LAYOUT:
            conn.execute(statement)
        conn.execute("INSERT INTO pools (name, size, created_at) VALUES ('p', 5, 1.0)")
        conn.execute("PRAGMA user_version = 2")
    fill_sqlite_leases(path, "p", 2, now=1.0)
    store = SQLiteStore(path, default_pool=("default", 3))

    # The pool made before has no journal yet; its next change begins it, tokens going on.
    assert store.events("p", 0, 10) == []
    lease = store.acquire(AcquireRequest("p"))
    assert [(e.seq, e.kind, e.obj, e.token) for e in store.events("p", 0, 10)] == [
        (1, EventKind.GRANTED, 3, 3)
    ]
    assert store.pool("p").in_use == 3
    # `default`, made by this opening, is journaled from its creation.
    assert [e.kind for e in store.events("default", 0, 10)] == [EventKind.POOL_CREATED]
    store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = SQLiteStore(path)
    assert again.events("p", 0, 10)[0].token == lease.token
    again.close()


KEY_RANGES = {
    "read": (READ_EVENTS, {"pool": "p", "after": 0, "first": 10}),
    "trim": (TRIM_EVENTS, {"pool": "p", "cut": 5, "batch": 2}),
    "append": (APPEND_EVENT, ("p", "FREED", 1.0, 1, 1, None, None, None, None, None, None)),
    "last seq": (LAST_SEQ, ("p",)),
}


@pytest.mark.parametrize("statement", KEY_RANGES)
def test_reading_appending_and_trimming_are_ranges_of_the_key(
    tmp_path: Path, statement: str
) -> None:
    store = SQLiteStore(tmp_path / "objmgr.sqlite3")
    store.create_pool("p", 3)
    store.close()
    sql, parameters = KEY_RANGES[statement]
    with contextlib.closing(sqlite3.connect(tmp_path / "objmgr.sqlite3")) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}", parameters).fetchall()
    details = [row[-1] for row in plan]
    assert all("SCAN" not in detail for detail in details), details
    assert any("USING PRIMARY KEY" in detail for detail in details), details


# rule R9
def test_a_journal_holds_its_last_keep_and_at_most_a_trim_step_more(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, events_keep=7)
    store.create_pool("p", 3)
    for rounds in range(1, 41):
        churn(store, 1)
        kept = store.events("p", 0, 100)
        last = 1 + 2 * rounds
        assert [e.seq for e in kept] == list(range(kept[0].seq, last + 1))
        assert min(7, last) <= len(kept) <= 7 + TRIM_EVERY - 1
    assert count_events(path) == len(store.events("p", 0, 100))
    store.close()


# rules R9, R3
def test_trimming_never_deletes_the_last_event_which_counts_seq(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, events_keep=1)
    store.create_pool("p", 3)
    churn(store, 3 * TRIM_EVERY)
    store.delete_pool("p", force=False)
    store.close()
    again = SQLiteStore(path, events_keep=1)
    again.create_pool("p", 3)
    assert again.events("p", 0, 100)[-1].seq == 1 + 6 * TRIM_EVERY + 2
    again.close()


# rule R9
def test_a_journal_over_its_bound_shrinks_a_bounded_batch_per_write(tmp_path: Path) -> None:
    """As after OBJMGR_EVENTS_KEEP was lowered: no write pays for the whole excess."""
    path = tmp_path / "objmgr.sqlite3"
    roomy = SQLiteStore(path, events_keep=1000)
    roomy.create_pool("p", 3)
    churn(roomy, 100)
    roomy.close()
    assert count_events(path) == 201

    tight = SQLiteStore(path, events_keep=10)
    counts = [count_events(path)]
    for _ in range(15):
        lease = tight.acquire(AcquireRequest("p"))
        counts.append(count_events(path))
        tight.free("p", lease.obj, ANYONE, lease.token)
        counts.append(count_events(path))
    # A write appends one event, and deletes at most its trim's batch.
    batch = TRIM_PER_EVENT * (1 + TRIM_EVERY)
    assert all(after >= before + 1 - batch for before, after in itertools.pairwise(counts))
    assert counts[-1] < counts[0]
    churn(tight, 200)
    assert 10 <= count_events(path) <= 10 + TRIM_EVERY - 1
    tight.close()


# rules R9, R4
def test_a_mass_expiry_is_journaled_lease_by_lease_within_the_bound(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, clock=clock, reaper=False, events_keep=50)
    store.create_pool("p", 2000)
    fill_sqlite_leases(path, "p", 1000, clock(), expires_in=10, ttl=10, stagger=1e-3)
    clock.advance(20)
    for _ in range(20):
        store.acquire(AcquireRequest("p"))
        assert count_events(path) <= 50 + TRIM_EVERY - 1
    kept = store.events("p", 0, 100)
    expired = [e.obj for e in kept if e.kind is EventKind.EXPIRED]
    granted = [e.obj for e in kept if e.kind is EventKind.GRANTED]
    # Oldest expiry first: object 1000 expired first, so 20 writes reached 1000 - 20 * 32 + 1.
    assert expired == list(range(expired[0], 1000 - 20 * RECLAIM_PER_WRITE, -1))
    assert granted[-1] == 1020
    for event in kept:
        if event.kind is EventKind.EXPIRED:
            assert event.obj is not None and event.principal is None
            assert event.at == pytest.approx(clock() - 10 + (1000 - event.obj) * 1e-3)
    store.close()


# rule R9
def test_a_change_that_did_not_commit_is_neither_journaled_nor_told(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, default_pool=("default", 10))
    store.acquire(AcquireRequest("default"))
    told: list[Event] = []
    store.listen(told.extend)
    kept = store.events("default", 0, 100)
    backup(path, tmp_path / "backup.sqlite3")
    # The file deleted under the store: the change runs, and its guard refuses the COMMIT.
    delete_database(path)
    with pytest.raises(StoreUnavailable):
        store.acquire(AcquireRequest("default"))
    assert told == []
    store.close()
    (tmp_path / "backup.sqlite3").rename(path)
    reopened = SQLiteStore(path)
    assert reopened.events("default", 0, 100) == kept
    reopened.close()
