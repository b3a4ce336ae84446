"""Objects, leases and counts of the SQLite store, as statements on a connection.

Every function runs inside the caller's transaction (or read) and keeps the
pool's counters (`held`, `held_above`) in step with the rows it changes.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from ...pool.errors import pool_not_found
from ...pool.lease import Lease, PoolStats
from .journal import ExpiredRow, Journal

#: Expired leases a write reclaims from the pool it touches before its own work.
RECLAIM_PER_WRITE = 32

LEASE_COLUMNS = "pool, obj, token, owner, label, acquired_at, expires_at, ttl, request_id"
# rule R4: every read leaves out the leases expired but not reclaimed yet
LIVE = "(expires_at IS NULL OR expires_at > :now)"


class PoolRow(NamedTuple):
    size: int
    next_fresh: int
    held: int
    held_above: int
    waiting: int


def find_pool_row(conn: sqlite3.Connection, pool: str) -> PoolRow | None:
    row = conn.execute(
        "SELECT size, next_fresh, held, held_above, waiting FROM pools WHERE name = ?", (pool,)
    ).fetchone()
    return None if row is None else PoolRow(*row)


def pool_row(conn: sqlite3.Connection, pool: str) -> PoolRow:
    row = find_pool_row(conn, pool)
    if row is None:
        raise pool_not_found(pool)
    return row


def stats(conn: sqlite3.Connection, name: str, row: PoolRow, now: float, waiting: int) -> PoolStats:
    """The pool's counts, leaving out leases expired but not reclaimed yet.

    One row of counters, the expiry counts of the seconds the reaper has not
    caught up with, and the leases expiring in the current second: the same
    cost at a million held as at ten, and during a mass expiry too.
    """
    expired = expired_count(conn, name, now)
    expired_above = 0
    if row.held_above:
        (expired_above,) = conn.execute(
            "SELECT count(*) FROM leases WHERE pool = ? AND obj > ? AND expires_at <= ?",
            (name, row.size, now),
        ).fetchone()
    return counted_stats(name, row, expired, expired_above, waiting)


def counted_stats(
    name: str, row: PoolRow, expired: int, expired_above: int, waiting: int
) -> PoolStats:
    held_within = row.held - row.held_above - (expired - expired_above)
    return PoolStats(name, row.size, row.held - expired, row.size - held_within, waiting)


# `stats`' reads in one statement, for reads outside a write transaction: a
# statement sees one snapshot, so a pool's row and its expiry counts never
# straddle a commit (a reaper batch, say), which would put the counts off by it.
_COUNTED_POOLS = """
SELECT p.name, p.size, p.next_fresh, p.held, p.held_above, p.waiting,
  (SELECT coalesce(sum(e.leases), 0) FROM expiries e WHERE e.pool = p.name AND e.second < :second)
  + (SELECT count(*) FROM leases l
     WHERE l.pool = p.name AND l.expires_at >= :second AND l.expires_at <= :now),
  CASE WHEN p.held_above > 0 THEN
    (SELECT count(*) FROM leases l
     WHERE l.pool = p.name AND l.obj > p.size AND l.expires_at <= :now)
  ELSE 0 END
FROM pools p
"""


def counted_pools(
    conn: sqlite3.Connection,
    now: float,
    *,
    name: str | None = None,
    after: str = "",
    first: int = 1,
) -> list[tuple[str, PoolRow, int, int]]:
    """Pools (the one named, or a page in name order after `after`) with their
    expired and expired-above-size counts, read in one statement."""
    where = "WHERE p.name = :name" if name is not None else "WHERE p.name > :after"
    rows = conn.execute(
        f"{_COUNTED_POOLS} {where} ORDER BY p.name LIMIT :first",
        {"second": int(now), "now": now, "name": name, "after": after, "first": first},
    ).fetchall()
    return [
        (pool, PoolRow(size, next_fresh, held, held_above, waiting), expired, expired_above)
        for pool, size, next_fresh, held, held_above, waiting, expired, expired_above in rows
    ]


def expired_count(conn: sqlite3.Connection, pool: str, now: float) -> int:
    second = int(now)
    (past,) = conn.execute(
        "SELECT coalesce(sum(leases), 0) FROM expiries WHERE pool = ? AND second < ?",
        (pool, second),
    ).fetchone()
    (current,) = conn.execute(
        "SELECT count(*) FROM leases WHERE pool = ? AND expires_at >= ? AND expires_at <= ?",
        (pool, second, now),
    ).fetchone()
    return int(past) + int(current)


def count_expiry(conn: sqlite3.Connection, pool: str, expires_at: float | None, by: int) -> None:
    """Keep the count of the pool's leases that expire in `expires_at`'s second."""
    if expires_at is None:
        return
    second = int(expires_at)
    conn.execute(
        "INSERT INTO expiries (pool, second, leases) VALUES (?, ?, ?) "
        "ON CONFLICT (pool, second) DO UPDATE SET leases = leases + excluded.leases",
        (pool, second, by),
    )
    if by < 0:
        conn.execute(
            "DELETE FROM expiries WHERE pool = ? AND second = ? AND leases <= 0", (pool, second)
        )


# What a reclaim reads of each expired lease (`journal.ExpiredRow`).
_EXPIRED = "obj, expires_at, token, owner, label"


def reclaim(
    conn: sqlite3.Connection, pool: str, size: int, now: float, limit: int, journal: Journal
) -> int:
    """Reclaim at most `limit` expired leases of `pool`, oldest expiry first;
    the number of objects within `size` that came free."""
    # rule R4: a bounded batch, the earliest expiry first (ties by object, rule R1)
    rows = conn.execute(
        f"SELECT {_EXPIRED} FROM leases WHERE pool = ? AND expires_at <= ? "
        "ORDER BY expires_at, obj LIMIT ?",
        (pool, now, limit),
    ).fetchall()
    return return_expired(conn, pool, size, rows, journal)


def reclaim_oldest(
    conn: sqlite3.Connection, now: float, limit: int, journal: Journal
) -> dict[str, int]:
    """Reclaim at most `limit` expired leases of every pool, oldest expiry first;
    per pool, the objects within its size that came free."""
    rows = conn.execute(
        f"SELECT pool, {_EXPIRED} FROM leases WHERE expires_at <= ? ORDER BY expires_at LIMIT ?",
        (now, limit),
    ).fetchall()
    by_pool: dict[str, list[ExpiredRow]] = {}
    for pool, *expired in rows:
        by_pool.setdefault(pool, []).append(tuple(expired))  # type: ignore[arg-type]
    freed = {}
    for pool, expired_rows in by_pool.items():
        row = conn.execute("SELECT size FROM pools WHERE name = ?", (pool,)).fetchone()
        freed[pool] = return_expired(conn, pool, row[0] if row else 0, expired_rows, journal)
    return freed


def return_expired(
    conn: sqlite3.Connection, pool: str, size: int, rows: list[ExpiredRow], journal: Journal
) -> int:
    if not rows:
        return 0
    rows = sorted(rows, key=lambda row: (row[1], row[0]))
    conn.executemany(
        "DELETE FROM leases WHERE pool = ? AND obj = ?", [(pool, row[0]) for row in rows]
    )
    # rule R1: an expired lease counts as freed at its expiry time
    conn.executemany(
        "INSERT INTO free_objects (pool, obj, freed_at) VALUES (?, ?, ?)",
        [(pool, row[0], row[1]) for row in rows],
    )
    seconds: dict[int, int] = {}
    for row in rows:
        seconds[int(row[1])] = seconds.get(int(row[1]), 0) + 1
    for second, count in seconds.items():
        count_expiry(conn, pool, second, -count)
    above = sum(1 for row in rows if row[0] > size)
    conn.execute(
        "UPDATE pools SET held = held - ?, held_above = held_above - ? WHERE name = ?",
        (len(rows), above, pool),
    )
    # rule R9: each reclaimed lease is an EXPIRED event, `at` its expiry
    journal.expired(conn, pool, rows)
    return len(rows) - above


def put_free(conn: sqlite3.Connection, lease: Lease, size: int, now: float) -> None:
    """Give back a held object; it queues behind every object freed before it."""
    pool, obj = lease.pool, lease.obj
    conn.execute("DELETE FROM leases WHERE pool = ? AND obj = ?", (pool, obj))
    count_expiry(conn, pool, lease.expires_at, -1)
    # rule R1: never ahead of an earlier free, even when the clock stepped back
    conn.execute(
        "INSERT INTO free_objects (pool, obj, freed_at) VALUES (:pool, :obj, max(:now, "
        "  coalesce((SELECT max(freed_at) FROM free_objects WHERE pool = :pool), 0)))",
        {"pool": pool, "obj": obj, "now": now},
    )
    conn.execute(
        "UPDATE pools SET held = held - 1, held_above = held_above - ? WHERE name = ?",
        (int(obj > size), pool),
    )


def take_free(conn: sqlite3.Connection, pool: str, row: PoolRow) -> int | None:
    """Take the next object to hand out (never used first, then longest free), or None."""
    # rule R1: never used first, ascending, size included
    if row.next_fresh <= row.size:
        conn.execute(
            "UPDATE pools SET next_fresh = next_fresh + 1, held = held + 1 WHERE name = ?", (pool,)
        )
        return row.next_fresh
    # rule R1: then the longest free; rule R6: retired objects above the size skipped
    found = conn.execute(
        "SELECT seq, obj FROM free_objects WHERE pool = ? AND obj <= ? "
        "ORDER BY freed_at, seq LIMIT 1",
        (pool, row.size),
    ).fetchone()
    if found is None:
        return None
    conn.execute("DELETE FROM free_objects WHERE seq = ?", (found[0],))
    conn.execute("UPDATE pools SET held = held + 1 WHERE name = ?", (pool,))
    return int(found[1])


def available(conn: sqlite3.Connection, pool: str, row: PoolRow, now: float) -> bool:
    """Whether an object could be handed out now (freed, never used, or expired)."""
    if row.next_fresh <= row.size:
        return True
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM free_objects WHERE pool = :pool AND obj <= :size) "
        "    OR EXISTS (SELECT 1 FROM leases WHERE pool = :pool AND expires_at <= :now "
        "               AND obj <= :size)",
        {"pool": pool, "size": row.size, "now": now},
    ).fetchone()
    return bool(found[0])


def held(conn: sqlite3.Connection, pool: str, obj: int, now: float) -> Lease | None:
    """The live lease of `obj`, None when it is free or its lease expired."""
    row = conn.execute(
        f"SELECT {LEASE_COLUMNS} FROM leases WHERE pool = :pool AND obj = :obj AND {LIVE}",
        {"pool": pool, "obj": obj, "now": now},
    ).fetchone()
    return None if row is None else Lease(*row)


def by_request(
    conn: sqlite3.Connection, pool: str, request_id: str, owner: str | None, now: float
) -> Lease | None:
    # rule R2: the live lease of (owner, request id), if any
    row = conn.execute(
        f"SELECT {LEASE_COLUMNS} FROM leases WHERE pool = :pool AND request_id = :request "
        f"AND owner IS :owner AND {LIVE}",
        {"pool": pool, "request": request_id, "owner": owner, "now": now},
    ).fetchone()
    return None if row is None else Lease(*row)


def insert_lease(conn: sqlite3.Connection, lease: Lease) -> None:
    conn.execute(
        f"INSERT INTO leases ({LEASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            lease.pool,
            lease.obj,
            lease.token,
            lease.owner,
            lease.label,
            lease.acquired_at,
            lease.expires_at,
            lease.ttl,
            lease.request_id,
        ),
    )
    count_expiry(conn, lease.pool, lease.expires_at, 1)


def renew(conn: sqlite3.Connection, lease: Lease, renewed: Lease) -> None:
    # rule R3: the token stays; rule R8: the expiry moves
    conn.execute(
        "UPDATE leases SET expires_at = ?, ttl = ? WHERE pool = ? AND obj = ?",
        (renewed.expires_at, renewed.ttl, lease.pool, lease.obj),
    )
    count_expiry(conn, lease.pool, lease.expires_at, -1)
    count_expiry(conn, lease.pool, renewed.expires_at, 1)


def next_token(conn: sqlite3.Connection, pool: str) -> int:
    # rule R3: one counter per pool name, never deleted
    (token,) = conn.execute(
        "INSERT INTO fencing (pool, last_token) VALUES (?, 1) ON CONFLICT (pool) "
        "DO UPDATE SET last_token = last_token + 1 RETURNING last_token",
        (pool,),
    ).fetchone()
    return int(token)


def resize(conn: sqlite3.Connection, pool: str, row: PoolRow, size: int) -> None:
    """Set the size; the leases held above it are counted over the band that moved.

    Rule R6: nothing else moves. Freed objects above the size stay in
    `free_objects`, skipped by `take_free` until the pool grows over them.
    """
    low, high = sorted((row.size, size))
    (moved,) = conn.execute(
        "SELECT count(*) FROM leases WHERE pool = ? AND obj > ? AND obj <= ?", (pool, low, high)
    ).fetchone()
    above = row.held_above - moved if size > row.size else row.held_above + moved
    conn.execute("UPDATE pools SET size = ?, held_above = ? WHERE name = ?", (size, above, pool))
