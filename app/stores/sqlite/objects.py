"""Objects and leases of the SQLite store, as statements on a connection.

Every function runs inside the caller's transaction (or read) and keeps the
pool's counters (`held`, `held_above`, `cooling`, `free_seq`) and its free
runs (`runs.py`) in step with the rows it changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ...pool.lease import Lease
from ...pool.policy import cooling_until
from . import cooling, runs
from .counts import counted_pools, counted_stats, stats
from .journal import ExpiredRow, Journal
from .rows import PoolRow, find_pool_row, pool_row

__all__ = [
    "RECLAIM_PER_WRITE",
    "PoolRow",
    "counted_pools",
    "counted_stats",
    "find_pool_row",
    "pool_row",
    "stats",
]

#: Expired leases a write reclaims from the pool it touches before its own work,
#: and cooled objects it moves back to the free order.
RECLAIM_PER_WRITE = 32

LEASE_COLUMNS = "pool, obj, token, owner, label, acquired_at, expires_at, ttl, request_id"
# rule R4: every read leaves out the leases expired but not reclaimed yet
LIVE = "(expires_at IS NULL OR expires_at > :now)"


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
    conn: sqlite3.Connection, pool: str, row: PoolRow, now: float, limit: int, journal: Journal
) -> tuple[int, int]:
    """Reclaim at most `limit` expired leases of `pool`, oldest expiry first;
    how many, and how many objects within the size came free."""
    # rule R4: a bounded batch, the earliest expiry first (ties by object, rule R1)
    rows = conn.execute(
        f"SELECT {_EXPIRED} FROM leases WHERE pool = ? AND expires_at <= ? "
        "ORDER BY expires_at, obj LIMIT ?",
        (pool, now, limit),
    ).fetchall()
    return len(rows), return_expired(conn, pool, row, now, rows, journal)


def reclaim_one(
    conn: sqlite3.Connection, pool: str, row: PoolRow, obj: int, now: float, journal: Journal
) -> None:
    """Reclaim `obj`'s lease if it expired (a named grant's object, rule R11)."""
    rows = conn.execute(
        f"SELECT {_EXPIRED} FROM leases WHERE pool = ? AND obj = ? AND expires_at <= ?",
        (pool, obj, now),
    ).fetchall()
    return_expired(conn, pool, row, now, rows, journal)


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
        row = find_pool_row(conn, pool) or PoolRow(0, 1, 0, 0, 0)
        freed[pool] = return_expired(conn, pool, row, now, expired_rows, journal)
    return freed


def return_expired(
    conn: sqlite3.Connection,
    pool: str,
    row: PoolRow,
    now: float,
    rows: list[ExpiredRow],
    journal: Journal,
) -> int:
    if not rows:
        return 0
    rows = sorted(rows, key=lambda expired: (expired[1], expired[0]))
    conn.executemany(
        "DELETE FROM leases WHERE pool = ? AND obj = ?", [(pool, expired[0]) for expired in rows]
    )
    seconds: dict[int, int] = {}
    for expired in rows:
        seconds[int(expired[1])] = seconds.get(int(expired[1]), 0) + 1
    for second, count in seconds.items():
        count_expiry(conn, pool, second, -count)
    above = sum(1 for expired in rows if expired[0] > row.size)
    conn.execute(
        "UPDATE pools SET held = held - ?, held_above = held_above - ? WHERE name = ?",
        (len(rows), above, pool),
    )
    # rule R9: each reclaimed lease is an EXPIRED event, `at` its expiry
    journal.expired(conn, pool, rows)
    # rule R1: an expired lease counts as freed at its expiry time; rule R13: or at
    # the end of its cooling
    return end_objects(conn, pool, row, now, [(expired[0], expired[1]) for expired in rows])


def end_objects(
    conn: sqlite3.Connection,
    pool: str,
    row: PoolRow,
    now: float,
    ended: Sequence[tuple[int, float]],
) -> int:
    """Objects whose leases ended (expired or revoked) at the times given: cooling
    under the pool's reuse delay (rule R13), else freed then; how many within the
    size are available now."""
    freed: list[tuple[int, float]] = []
    cooled: list[tuple[int, float]] = []
    for obj, ended_at in ended:
        until = cooling_until(row.policy, ended_at)
        if until is None:
            freed.append((obj, ended_at))
        elif until <= now:
            freed.append((obj, until))
        else:
            cooled.append((obj, until))
    cooling.cool(conn, pool, row.size, cooled)
    add_free(conn, pool, freed)
    return sum(1 for obj, _ in freed if obj <= row.size)


def add_free(conn: sqlite3.Connection, pool: str, freed: Sequence[tuple[int, float]]) -> None:
    """Put (object, freed at) in the free order, in the order given."""
    if not freed:
        return
    (last,) = conn.execute(
        "UPDATE pools SET free_seq = free_seq + ? WHERE name = ? RETURNING free_seq",
        (len(freed), pool),
    ).fetchone()
    first = last - len(freed) + 1
    conn.executemany(
        "INSERT INTO free_objects (pool, obj, seq, freed_at) VALUES (?, ?, ?, ?)",
        [(pool, obj, first + index, at) for index, (obj, at) in enumerate(freed)],
    )
    runs.add_objects(conn, pool, [obj for obj, _ in freed])


def move_cooled(conn: sqlite3.Connection, pool: str, row: PoolRow, now: float, limit: int) -> int:
    """Free at most `limit` objects whose cooling ended, as freed at its end (rule
    R13); how many of them are within the size."""
    ended = cooling.take_ended(conn, pool, row, now, limit)
    add_free(conn, pool, ended)
    return sum(1 for obj, _ in ended if obj <= row.size)


def move_cooled_oldest(conn: sqlite3.Connection, now: float, limit: int) -> dict[str, int]:
    """The reaper's share of `move_cooled`, over every pool, earliest end first."""
    moved = {}
    for pool, (row, ended) in cooling.take_ended_oldest(conn, now, limit).items():
        add_free(conn, pool, ended)
        moved[pool] = sum(1 for obj, _ in ended if obj <= row.size)
    return moved


def put_free(conn: sqlite3.Connection, lease: Lease, size: int, now: float) -> None:
    """Give back a held object; it queues behind every object freed before it."""
    pool, obj = lease.pool, lease.obj
    conn.execute("DELETE FROM leases WHERE pool = ? AND obj = ?", (pool, obj))
    count_expiry(conn, pool, lease.expires_at, -1)
    (seq,) = conn.execute(
        "UPDATE pools SET held = held - 1, held_above = held_above - ?, free_seq = free_seq + 1 "
        "WHERE name = ? RETURNING free_seq",
        (int(obj > size), pool),
    ).fetchone()
    # rule R1: never ahead of an earlier free, even when the clock stepped back
    conn.execute(
        "INSERT INTO free_objects (pool, obj, seq, freed_at) VALUES (:pool, :obj, :seq, max(:now, "
        "  coalesce((SELECT max(freed_at) FROM free_objects WHERE pool = :pool), 0)))",
        {"pool": pool, "obj": obj, "now": now, "seq": seq},
    )
    runs.add(conn, pool, obj, obj)


def end_lease(conn: sqlite3.Connection, lease: Lease, row: PoolRow, now: float) -> int:
    """Revoke a held lease (rule R14): its object cools or is freed now; whether
    it is available within the size now."""
    if cooling_until(row.policy, now) is None:
        put_free(conn, lease, row.size, now)
        return int(lease.obj <= row.size)
    conn.execute("DELETE FROM leases WHERE pool = ? AND obj = ?", (lease.pool, lease.obj))
    count_expiry(conn, lease.pool, lease.expires_at, -1)
    conn.execute(
        "UPDATE pools SET held = held - 1, held_above = held_above - ? WHERE name = ?",
        (int(lease.obj > row.size), lease.pool),
    )
    return end_objects(conn, lease.pool, row, now, [(lease.obj, now)])


def available(conn: sqlite3.Connection, pool: str, row: PoolRow, now: float) -> bool:
    """Whether an object could be handed out now (freed, never used, expired or
    cooled): what may let a waiter be served."""
    if row.next_fresh <= row.size:
        return True
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM free_objects WHERE pool = :pool AND obj <= :size) "
        "    OR EXISTS (SELECT 1 FROM leases WHERE pool = :pool AND expires_at <= :now "
        "               AND obj <= :size) "
        "    OR EXISTS (SELECT 1 FROM cooling WHERE pool = :pool AND until <= :now "
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
) -> list[Lease]:
    # rule R2, R10: the live leases of (owner, request id), in token order
    rows = conn.execute(
        f"SELECT {LEASE_COLUMNS} FROM leases WHERE pool = :pool AND request_id = :request "
        f"AND owner IS :owner AND {LIVE} ORDER BY token",
        {"pool": pool, "request": request_id, "owner": owner, "now": now},
    ).fetchall()
    return [Lease(*row) for row in rows]


def owned(conn: sqlite3.Connection, pool: str, owner: str, now: float, limit: int) -> int:
    """`owner`'s live leases of `pool`, counted up to `limit` (rule R12)."""
    (count,) = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM leases WHERE owner = :owner AND pool = :pool "
        f"AND {LIVE} LIMIT :limit)",
        {"owner": owner, "pool": pool, "now": now, "limit": limit},
    ).fetchone()
    return int(count)


_INSERT_LEASE = f"INSERT INTO leases ({LEASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


def insert_leases(conn: sqlite3.Connection, leases: Sequence[Lease]) -> None:
    """Leases granted together: one expiry, so one count of it."""
    values = [
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
        )
        for lease in leases
    ]
    if len(values) == 1:
        conn.execute(_INSERT_LEASE, values[0])
    else:
        conn.executemany(_INSERT_LEASE, values)
    count_expiry(conn, leases[0].pool, leases[0].expires_at, len(leases))


def renew(conn: sqlite3.Connection, lease: Lease, renewed: Lease) -> None:
    # rule R3: the token stays; rule R8: the expiry moves
    conn.execute(
        "UPDATE leases SET expires_at = ?, ttl = ? WHERE pool = ? AND obj = ?",
        (renewed.expires_at, renewed.ttl, lease.pool, lease.obj),
    )
    count_expiry(conn, lease.pool, lease.expires_at, -1)
    count_expiry(conn, lease.pool, renewed.expires_at, 1)


def next_tokens(conn: sqlite3.Connection, pool: str, count: int) -> range:
    # rule R3: one counter per pool name, never deleted; rule R10: c increasing tokens
    (last,) = conn.execute(
        "INSERT INTO fencing (pool, last_token) VALUES (?1, ?2) ON CONFLICT (pool) "
        "DO UPDATE SET last_token = last_token + ?2 RETURNING last_token",
        (pool, count),
    ).fetchone()
    return range(int(last) - count + 1, int(last) + 1)


def resize(conn: sqlite3.Connection, pool: str, row: PoolRow, size: int) -> None:
    """Set the size; the leases held and objects cooling above it are counted
    over the band that moved.

    Rule R6: nothing else moves. Freed objects above the size stay in
    `free_objects` and its runs, skipped by grants until the pool grows over them.
    """
    low, high = sorted((row.size, size))
    (moved,) = conn.execute(
        "SELECT count(*) FROM leases WHERE pool = ? AND obj > ? AND obj <= ?", (pool, low, high)
    ).fetchone()
    (cooled,) = conn.execute(
        "SELECT count(*) FROM cooling WHERE pool = ? AND obj > ? AND obj <= ?", (pool, low, high)
    ).fetchone()
    grows = size > row.size
    conn.execute(
        "UPDATE pools SET size = ?, held_above = ?, cooling_above = ? WHERE name = ?",
        (
            size,
            row.held_above - moved if grows else row.held_above + moved,
            row.cooling_above - cooled if grows else row.cooling_above + cooled,
            pool,
        ),
    )
