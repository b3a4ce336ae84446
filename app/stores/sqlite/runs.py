"""Runs of available objects and skipped fresh ones: what contiguous and named
grants find without scanning a pool (rules R10, R11), kept by every change.

`free_runs` holds the maximal runs of available objects below the pool's
tail (`PoolRow.tail`); the tail and everything above it has never been used
and is one run no row records, so the fresh order (the hot path: a fresh
grant) writes no run at all. A free adds its object to a run (two probes, one
or two writes); a grant of a freed object splits its run.

`skips` are fresh objects granted ahead of `next_fresh`; the fresh order hops
over each once, when it reaches it (rule R11).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .schema import SPAN_CAP

_NEIGHBOURS = (
    "SELECT 0, start, stop FROM (SELECT start, stop FROM free_runs "
    "  WHERE pool = :pool AND start < :start ORDER BY start DESC LIMIT 1) WHERE stop = :start - 1 "
    "UNION ALL "
    "SELECT 1, start, stop FROM free_runs WHERE pool = :pool AND start = :stop + 1"
)
_PUT = (
    "INSERT INTO free_runs (pool, start, stop, span) VALUES (?1, ?2, ?3, min(?3 - ?2 + 1, ?4)) "
    "ON CONFLICT (pool, start) DO UPDATE SET stop = excluded.stop, span = excluded.span"
)
_DROP = "DELETE FROM free_runs WHERE pool = ? AND start = ?"
_CONTAINING = (
    "SELECT start, stop FROM free_runs WHERE pool = ? AND start <= ? ORDER BY start DESC LIMIT 1"
)
# rule R10: the lowest run of at least :count objects within the size, one probe of
# the (pool, span, start) index per distinct span from :count up (at most SPAN_CAP).
_LOWEST_RUN = """
WITH RECURSIVE spans(span) AS (
  SELECT (SELECT min(span) FROM free_runs WHERE pool = :pool AND span >= :count)
  UNION ALL
  SELECT (SELECT min(r.span) FROM free_runs r WHERE r.pool = :pool AND r.span > spans.span)
  FROM spans WHERE spans.span IS NOT NULL
)
SELECT min((SELECT r.start FROM free_runs r INDEXED BY free_runs_by_span
            WHERE r.pool = :pool AND r.span = spans.span AND r.start <= :size AND r.stop <= :size
            ORDER BY r.start LIMIT 1))
FROM spans WHERE spans.span IS NOT NULL
"""
# INDEXED BY: left to itself the planner walks the primary key (pool, start) for
# `start <= :size ORDER BY start`, every run of the pool, filtering on the span.


class RunsOutOfStep(RuntimeError):
    """The runs disagree with the objects: the change is rolled back."""


def _put(conn: sqlite3.Connection, pool: str, start: int, stop: int) -> None:
    conn.execute(_PUT, (pool, start, stop, SPAN_CAP))


def add(conn: sqlite3.Connection, pool: str, start: int, stop: int) -> None:
    """Make start..stop available: none of it in a run yet, all below the tail."""
    left = right = None
    for side, run_start, run_stop in conn.execute(
        _NEIGHBOURS, {"pool": pool, "start": start, "stop": stop}
    ).fetchall():
        if side == 0:
            left = (run_start, run_stop)
        else:
            right = (run_start, run_stop)
    if right is not None:
        conn.execute(_DROP, (pool, right[0]))
        stop = right[1]
    _put(conn, pool, start if left is None else left[0], stop)


def add_objects(conn: sqlite3.Connection, pool: str, objs: Iterable[int]) -> None:
    """Make each of `objs` available, consecutive ones as one run."""
    ordered = sorted(objs)
    index = 0
    while index < len(ordered):
        start = stop = ordered[index]
        index += 1
        while index < len(ordered) and ordered[index] == stop + 1:
            stop = ordered[index]
            index += 1
        add(conn, pool, start, stop)


def remove(conn: sqlite3.Connection, pool: str, low: int, high: int, tail: int) -> None:
    """Take low..high, all available, out of the runs: the part below the tail
    is within one run, which is cut; the tail's part is the caller's to move."""
    if low >= tail:
        return
    top = min(high, tail - 1)
    run = conn.execute(_CONTAINING, (pool, low)).fetchone()
    if run is None or run[1] < top:
        raise RunsOutOfStep(f"objects {low}..{top} of pool {pool!r} are not in one free run")
    start, stop = run
    if start < low:
        _put(conn, pool, start, low - 1)
    else:
        conn.execute(_DROP, (pool, start))
    if stop > top:
        _put(conn, pool, top + 1, stop)


def lowest_run(conn: sqlite3.Connection, pool: str, count: int, size: int, tail: int) -> int | None:
    """The lowest k at which k..k+count-1 are all available within 1..size (rule R10)."""
    found: list[int] = []
    (lowest,) = conn.execute(_LOWEST_RUN, {"pool": pool, "count": count, "size": size}).fetchone()
    if lowest is not None:
        found.append(lowest)
    # The highest run within the size may cross it, or end at the tail and so go on
    # through it: its length within the size is then not its span.
    last = conn.execute(_CONTAINING, (pool, size)).fetchone()
    joins_tail = last is not None and last[1] == tail - 1 and tail <= size
    if last is not None and (last[1] > size or joins_tail) and size - last[0] + 1 >= count:
        found.append(last[0])
    if not joins_tail and tail <= size and size - tail + 1 >= count:
        found.append(tail)
    return min(found) if found else None


def skip(conn: sqlite3.Connection, pool: str, low: int, high: int) -> None:
    """Mark low..high, above next_fresh, as granted out of the fresh order."""
    conn.execute(
        "INSERT INTO skips (pool, start, stop) VALUES (?, ?, ?) "
        "ON CONFLICT (pool, start) DO UPDATE SET stop = max(stop, excluded.stop)",
        (pool, low, high),
    )


def hop(conn: sqlite3.Connection, pool: str, next_fresh: int) -> tuple[int, int | None]:
    """next_fresh moved to `next_fresh`: past the skips it reached, each dropped
    once (rule R11); the new next_fresh and the lowest skip left."""
    while True:
        reached = conn.execute(
            "SELECT max(stop) FROM skips WHERE pool = ? AND start <= ?", (pool, next_fresh)
        ).fetchone()[0]
        if reached is None:
            break
        conn.execute("DELETE FROM skips WHERE pool = ? AND start <= ?", (pool, next_fresh))
        next_fresh = max(next_fresh, reached + 1)
    (next_skip,) = conn.execute("SELECT min(start) FROM skips WHERE pool = ?", (pool,)).fetchone()
    return next_fresh, next_skip
