"""The SQLite store under faults: a file deleted, replaced or restored while in
use, a full disk, and a mass expiry, each with a real file (and a real tmpfs)."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

from app.pool.errors import StoreUnavailable
from app.pool.lease import AcquireRequest
from app.stores.sqlite import RECLAIM_PER_WRITE, SQLiteStore, objects

from .conftest import Clock
from .support.disks import fill, small_tmpfs
from .support.fills import fill_sqlite_leases

EXPIRING = 100_000


def files_of(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def delete_database(path: Path) -> None:
    for file in files_of(path):
        file.unlink(missing_ok=True)


def backup(path: Path, to: Path) -> None:
    """A consistent copy of the database, WAL included, as an operator's backup makes."""
    source, target = sqlite3.connect(path), sqlite3.connect(to)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def test_a_deleted_database_is_refused_and_never_made_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, default_pool=("default", 10))
    granted = [store.acquire(AcquireRequest("default")) for _ in range(2)]
    backup(path, tmp_path / "backup.sqlite3")
    delete_database(path)

    with pytest.raises(StoreUnavailable), caplog.at_level(logging.ERROR):
        store.acquire(AcquireRequest("default"))
    assert "restore it" in caplog.text
    for attempt in (store.check_ready, lambda: store.pool("default"), store.ping):
        with pytest.raises(StoreUnavailable):
            attempt()
    # A worker started now (gunicorn replacing a killed one) opens the path afresh.
    respawned = SQLiteStore(path, default_pool=("default", 10))
    with pytest.raises(StoreUnavailable):
        respawned.acquire(AcquireRequest("default"))
    with pytest.raises(StoreUnavailable):
        respawned.check_ready()
    assert not path.exists()

    # The operator restores the file: both carry on where it left off.
    (tmp_path / "backup.sqlite3").rename(path)
    after = [s.acquire(AcquireRequest("default")) for s in (store, respawned)]
    assert [lease.obj for lease in after] == [3, 4]
    assert [lease.token for lease in after] == [3, 4]
    assert max(lease.token for lease in granted) < min(lease.token for lease in after)
    store.check_ready()
    respawned.close()
    store.close()


def test_removing_the_marker_starts_afresh_on_purpose(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, default_pool=("default", 10))
    store.acquire(AcquireRequest("default"))
    store.close()
    delete_database(path)
    with pytest.raises(StoreUnavailable):
        SQLiteStore(path, default_pool=("default", 10)).ping()
    (tmp_path / ".objmgr.sqlite3.id").unlink()
    fresh = SQLiteStore(path, default_pool=("default", 10))
    assert fresh.acquire(AcquireRequest("default")).obj == 1
    fresh.close()


def test_another_database_put_in_its_place_is_refused(tmp_path: Path) -> None:
    path, other = tmp_path / "objmgr.sqlite3", tmp_path / "other" / "objmgr.sqlite3"
    store = SQLiteStore(path, default_pool=("default", 10))
    store.acquire(AcquireRequest("default"))
    stranger = SQLiteStore(other, default_pool=("default", 10))
    stranger.open()
    backup(other, tmp_path / "stranger.sqlite3")
    stranger.close()
    delete_database(path)
    os.replace(tmp_path / "stranger.sqlite3", path)

    with pytest.raises(StoreUnavailable):
        store.acquire(AcquireRequest("default"))
    with pytest.raises(StoreUnavailable):
        store.pool("default")
    # Not even a process that never saw the first file serves it: the marker says whose it is.
    with pytest.raises(StoreUnavailable):
        SQLiteStore(path).ping()
    store.close()


def test_a_write_into_a_file_deleted_meanwhile_is_never_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, default_pool=("default", 10))
    store.acquire(AcquireRequest("default"))
    backup(path, tmp_path / "backup.sqlite3")
    delete_database(path)
    for _ in range(3):
        with pytest.raises(StoreUnavailable):
            store.acquire(AcquireRequest("default", owner="lost"))
    (tmp_path / "backup.sqlite3").rename(path)
    # Nothing refused above was granted: the next grant is object 2, token 2.
    lease = store.acquire(AcquireRequest("default"))
    assert (lease.obj, lease.token) == (2, 2)
    store.close()


def test_a_full_disk_is_not_ready(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk") as disk:
        store = SQLiteStore(disk / "objmgr.sqlite3", default_pool=("default", 10))
        store.check_ready()
        filler = fill(disk)
        with pytest.raises(StoreUnavailable):
            store.check_ready()
        filler.unlink()
        # Room again: ready, and serving, without a restart.
        store.check_ready()
        assert store.acquire(AcquireRequest("default")).obj == 1
        store.close()


def table_count(path: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_mass_expiry_costs_a_write_one_bounded_batch(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, clock=clock, reaper=False)
    store.create_pool("p", 2 * EXPIRING)
    fill_sqlite_leases(path, "p", EXPIRING, clock(), expires_in=10, ttl=10, stagger=1e-6)
    clock.advance(11)

    lease = store.acquire(AcquireRequest("p"))

    assert (lease.obj, lease.token) == (EXPIRING + 1, EXPIRING + 1)
    assert table_count(path, "leases") == EXPIRING - RECLAIM_PER_WRITE + 1
    with contextlib.closing(sqlite3.connect(path)) as conn:
        freed = [obj for (obj,) in conn.execute("SELECT obj FROM free_objects ORDER BY seq")]
    # Oldest expiry first: object EXPIRING expired first.
    assert freed == list(range(EXPIRING, EXPIRING - RECLAIM_PER_WRITE, -1))
    # Reads are exact while the rest wait for reclamation.
    stats = store.pool("p")
    assert (stats.in_use, stats.available) == (1, 2 * EXPIRING - 1)
    assert store.leases("p", first=10, after=0) == [lease]
    assert store.lease("p", 1) is None
    store.close()


def test_reading_the_counts_during_a_mass_expiry_touches_few_rows(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, clock=clock, reaper=False)
    store.create_pool("p", 2 * EXPIRING)
    fill_sqlite_leases(path, "p", EXPIRING, clock(), expires_in=10, ttl=10, stagger=1e-6)
    clock.advance(11)
    steps = 0

    def count_steps() -> int:
        nonlocal steps
        steps += 1
        return 0

    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.set_progress_handler(count_steps, 1000)
        stats = objects.stats(conn, "p", objects.pool_row(conn, "p"), clock(), 0)
    assert (stats.in_use, stats.available) == (0, 2 * EXPIRING)
    # A count over the expired leases would take hundreds of thousands of steps.
    assert steps < 20
    store.close()


def test_the_reaper_reclaims_a_mass_expiry_in_the_background(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, clock=clock)
    store.create_pool("p", EXPIRING)
    fill_sqlite_leases(path, "p", EXPIRING, clock(), expires_in=10, ttl=10, stagger=1e-6)
    clock.advance(11)
    store.ping()
    for _ in range(600):
        if table_count(path, "leases") == 0:
            break
        stats = store.pool("p")
        assert (stats.in_use, stats.available) == (0, EXPIRING)
        time.sleep(0.1)
    assert table_count(path, "leases") == 0
    assert table_count(path, "free_objects") == EXPIRING
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT held, held_above FROM pools WHERE name = 'p'").fetchone() == (
            0,
            0,
        )
    # Longest free first: the object that expired first comes first.
    assert store.acquire(AcquireRequest("p")).obj == EXPIRING
    store.close()
