"""Objects cooling in the SQLite store (rule R13): out of circulation after an
expiry or a revocation under a `reuseDelay`, until their end.

`cooling` holds them, `cooling_ends` counts them per second of their end (so
reads count those whose end passed without counting them one by one), and the
pool's `cooling`/`cooling_above` counters are their rows and those above the
size. Once ended they are taken back, earliest end first, a bounded batch at a
time, and freed as at their end (`objects.move_cooled`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .rows import PoolRow, find_pool_row


def _count_ends(conn: sqlite3.Connection, pool: str, ends: Sequence[float], sign: int) -> None:
    seconds: dict[int, int] = {}
    for until in ends:
        seconds[int(until)] = seconds.get(int(until), 0) + 1
    conn.executemany(
        "INSERT INTO cooling_ends (pool, second, objects) VALUES (?, ?, ?) "
        "ON CONFLICT (pool, second) DO UPDATE SET objects = objects + excluded.objects",
        [(pool, second, sign * count) for second, count in seconds.items()],
    )
    if sign < 0:
        conn.executemany(
            "DELETE FROM cooling_ends WHERE pool = ? AND second = ? AND objects <= 0",
            [(pool, second) for second in seconds],
        )


def cool(
    conn: sqlite3.Connection, pool: str, size: int, cooled: Sequence[tuple[int, float]]
) -> None:
    """Put (object, until) out of circulation."""
    if not cooled:
        return
    conn.executemany(
        "INSERT INTO cooling (pool, obj, until) VALUES (?, ?, ?)",
        [(pool, obj, until) for obj, until in cooled],
    )
    _count_ends(conn, pool, [until for _, until in cooled], 1)
    conn.execute(
        "UPDATE pools SET cooling = cooling + ?, cooling_above = cooling_above + ? WHERE name = ?",
        (len(cooled), sum(1 for obj, _ in cooled if obj > size), pool),
    )


def _take(
    conn: sqlite3.Connection, pool: str, size: int, ended: list[tuple[int, float]]
) -> list[tuple[int, float]]:
    if not ended:
        return ended
    conn.executemany(
        "DELETE FROM cooling WHERE pool = ? AND obj = ?", [(pool, obj) for obj, _ in ended]
    )
    _count_ends(conn, pool, [until for _, until in ended], -1)
    conn.execute(
        "UPDATE pools SET cooling = cooling - ?, cooling_above = cooling_above - ? WHERE name = ?",
        (len(ended), sum(1 for obj, _ in ended if obj > size), pool),
    )
    return ended


def take_ended(
    conn: sqlite3.Connection, pool: str, row: PoolRow, now: float, limit: int
) -> list[tuple[int, float]]:
    """At most `limit` of the pool's objects whose cooling ended, earliest end
    first (ties by object), out of `cooling`: (object, end)."""
    if not row.cooling:
        return []
    ended = conn.execute(
        "SELECT obj, until FROM cooling WHERE pool = ? AND until <= ? ORDER BY until, obj LIMIT ?",
        (pool, now, limit),
    ).fetchall()
    return _take(conn, pool, row.size, [(obj, until) for obj, until in ended])


def end_of(conn: sqlite3.Connection, pool: str, row: PoolRow, obj: int) -> float | None:
    """The cooling end of `obj`, None when it is not cooling (ended or not)."""
    if not row.cooling:
        return None
    found = conn.execute(
        "SELECT until FROM cooling WHERE pool = ? AND obj = ?", (pool, obj)
    ).fetchone()
    return None if found is None else float(found[0])


def take_ended_one(
    conn: sqlite3.Connection, pool: str, row: PoolRow, obj: int, until: float
) -> list[tuple[int, float]]:
    return _take(conn, pool, row.size, [(obj, until)])


def take_ended_oldest(
    conn: sqlite3.Connection, now: float, limit: int
) -> dict[str, tuple[PoolRow, list[tuple[int, float]]]]:
    """At most `limit` cooled objects of every pool, earliest end first, out of
    `cooling`; per pool, its row (before) and (object, end)."""
    rows = conn.execute(
        "SELECT pool, obj, until FROM cooling WHERE until <= ? ORDER BY until, obj LIMIT ?",
        (now, limit),
    ).fetchall()
    by_pool: dict[str, list[tuple[int, float]]] = {}
    for pool, obj, until in rows:
        by_pool.setdefault(pool, []).append((obj, until))
    taken = {}
    for pool, ended in by_pool.items():
        row = find_pool_row(conn, pool)
        if row is not None:
            taken[pool] = (row, _take(conn, pool, row.size, ended))
    return taken


def next_end(conn: sqlite3.Connection) -> float | None:
    """The earliest cooling end of every pool (the reaper's next look)."""
    (until,) = conn.execute("SELECT min(until) FROM cooling").fetchone()
    return None if until is None else float(until)
