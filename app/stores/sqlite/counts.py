"""A pool's counts in the SQLite store: one row of counters and a few probes,
the same cost at a million held or cooling as at ten.

Rule R4: leases expired but not reclaimed yet are left out of `in_use`; rule
R13: under a `reuseDelay` those that ended less than the delay ago count as
cooling, and cooling objects whose end passed but are not moved yet count as
available. Each of those is a sum over the per-second counts (`expiries`,
`cooling_ends`) of the seconds the reaper has not caught up with, plus an
exact count of the current second only.
"""

from __future__ import annotations

import sqlite3

from ...pool.lease import PoolStats
from .rows import POOL_COLUMNS, PoolRow, as_pool_row

# The counts of one pool beside its row, in one statement (so in one snapshot):
# expired, expired above the size, cooled not moved yet, the same above the size,
# expired within the delay (still cooling), the same above the size. The pool's
# columns are the placeholders, so one text serves a named pool and a page of them.
_COUNTS = """
  (SELECT coalesce(sum(e.leases), 0) FROM expiries e
   WHERE e.pool = {pool} AND e.second < :second)
  + (SELECT count(*) FROM leases l
     WHERE l.pool = {pool} AND l.expires_at >= :second AND l.expires_at <= :now),
  CASE WHEN {held_above} > 0 THEN
    (SELECT count(*) FROM leases l
     WHERE l.pool = {pool} AND l.obj > {size} AND l.expires_at <= :now)
  ELSE 0 END,
  CASE WHEN {cooling} > 0 THEN
    (SELECT coalesce(sum(c.objects), 0) FROM cooling_ends c
     WHERE c.pool = {pool} AND c.second < :second)
    + (SELECT count(*) FROM cooling c
       WHERE c.pool = {pool} AND c.until >= :second AND c.until <= :now)
  ELSE 0 END,
  CASE WHEN {cooling_above} > 0 THEN
    (SELECT count(*) FROM cooling c WHERE c.pool = {pool} AND c.obj > {size} AND c.until <= :now)
  ELSE 0 END,
  CASE WHEN coalesce({delay}, 0) <= 0 THEN 0
  WHEN CAST(:now - {delay} AS INTEGER) >= :second THEN
    (SELECT count(*) FROM leases l
     WHERE l.pool = {pool} AND l.expires_at > :now - {delay} AND l.expires_at <= :now)
  ELSE
    (SELECT count(*) FROM leases l
     WHERE l.pool = {pool} AND l.expires_at > :now - {delay}
       AND l.expires_at < CAST(:now - {delay} AS INTEGER) + 1)
    + (SELECT coalesce(sum(e.leases), 0) FROM expiries e
       WHERE e.pool = {pool} AND e.second > CAST(:now - {delay} AS INTEGER)
         AND e.second < :second)
    + (SELECT count(*) FROM leases l
       WHERE l.pool = {pool} AND l.expires_at >= :second AND l.expires_at <= :now)
  END,
  CASE WHEN {delay} > 0 AND {held_above} > 0 THEN
    (SELECT count(*) FROM leases l
     WHERE l.pool = {pool} AND l.obj > {size}
       AND l.expires_at > :now - {delay} AND l.expires_at <= :now)
  ELSE 0 END
"""

_OF_ONE = "SELECT " + _COUNTS.format(
    pool=":pool",
    size=":size",
    held_above=":held_above",
    cooling=":cooling",
    cooling_above=":cooling_above",
    delay=":delay",
)

_COUNTED_POOLS = (
    "SELECT p.name, "
    + ", ".join(f"p.{column}" for column in POOL_COLUMNS)
    + ", "
    + _COUNTS.format(
        pool="p.name",
        size="p.size",
        held_above="p.held_above",
        cooling="p.cooling",
        cooling_above="p.cooling_above",
        delay="p.reuse_delay",
    )
    + " FROM pools p"
)

# expired, expired_above, ended, ended_above, warm, warm_above
Counts = tuple[int, int, int, int, int, int]


def stats(conn: sqlite3.Connection, name: str, row: PoolRow, now: float, waiting: int) -> PoolStats:
    """The pool's counts, leaving out leases expired but not reclaimed yet."""
    counts = conn.execute(
        _OF_ONE,
        {
            "pool": name,
            "size": row.size,
            "held_above": row.held_above,
            "cooling": row.cooling,
            "cooling_above": row.cooling_above,
            "delay": row.policy.reuse_delay,
            "second": int(now),
            "now": now,
        },
    ).fetchone()
    return counted_stats(name, row, counts, waiting)


def counted_stats(name: str, row: PoolRow, counts: Counts, waiting: int) -> PoolStats:
    expired, expired_above, ended, ended_above, warm, warm_above = counts
    held_within = row.held - row.held_above - (expired - expired_above)
    # rule R13: within 1..size, available + held + cooling = size
    cooling = (row.cooling - row.cooling_above) - (ended - ended_above) + (warm - warm_above)
    return PoolStats(
        name,
        row.size,
        row.held - expired,
        row.size - held_within - cooling,
        waiting,
        cooling,
        row.policy,
    )


def counted_pools(
    conn: sqlite3.Connection,
    now: float,
    *,
    name: str | None = None,
    after: str = "",
    first: int = 1,
) -> list[tuple[str, PoolRow, Counts]]:
    """Pools (the one named, or a page in name order after `after`) with their
    counts, read in one statement: a statement sees one snapshot, so a pool's
    row and its per-second counts never straddle a commit (a reaper batch, say)."""
    where = "WHERE p.name = :name" if name is not None else "WHERE p.name > :after"
    rows = conn.execute(
        f"{_COUNTED_POOLS} {where} ORDER BY p.name LIMIT :first",
        {"second": int(now), "now": now, "name": name, "after": after, "first": first},
    ).fetchall()
    width = len(POOL_COLUMNS)
    return [
        (row[0], as_pool_row(row[1 : 1 + width]), tuple(row[1 + width :]))  # type: ignore[misc]
        for row in rows
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
