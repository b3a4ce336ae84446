"""The queue of waiters in SQLite: who heads it, who is still alive, who goes.

A waiter belongs to a listener (one process's socket); it is live while that
process lives (`wake.alive`). Dead listeners' waiters are skipped by every
read of the head at once, and removed, with their counts, by the next sweep,
which removes their watchers of pools' journals (`watchers.py`) too.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable

from . import wake

#: Dead listeners one head read skips before it gives up (there are few processes).
MAX_SKIPS = 256

_FIRST = (
    "SELECT w.id, w.listener, l.pid, l.started, l.address FROM waiters w "
    "LEFT JOIN listeners l ON l.id = w.listener WHERE w.pool = ?{skip} ORDER BY w.id LIMIT 1"
)


class Liveness:
    """Which listeners' processes live; a dead one stays dead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dead: set[int] = set()
        self._me: tuple[int, str] | None = None

    def me(self) -> tuple[int, str]:
        if self._me is None or self._me[0] != os.getpid():
            self._me = wake.this_process()
        return self._me

    def alive(self, listener: int, pid: int | None, started: str | None) -> bool:
        # Asked afresh each time (one small read of /proc): a process killed a moment
        # ago must not hold a place.
        if pid is None or started is None or listener in self._dead:
            return False
        if (pid, started) == self.me() or wake.alive(pid, started):
            return True
        with self._lock:
            self._dead.add(listener)
        return False

    def known_dead(self, listener: int) -> bool:
        """Whether `listener` was found dead already (no look at /proc)."""
        return listener in self._dead

    def dead(self, conn: sqlite3.Connection) -> list[int]:
        """The listeners of the database whose processes are gone."""
        rows = conn.execute("SELECT id, pid, started FROM listeners").fetchall()
        return [row[0] for row in rows if not self.alive(*row)]


def live_head(
    conn: sqlite3.Connection, pool: str, liveness: Liveness, dead: list[int] | None = None
) -> tuple[int, bytes] | None:
    """(ticket id, listener address) of the oldest live waiter of `pool`.

    Listeners found dead on the way are appended to `dead`, for a sweep.
    """
    skip: list[int] = []
    for _ in range(MAX_SKIPS):
        clause = f" AND w.listener NOT IN ({', '.join('?' * len(skip))})" if skip else ""
        row = conn.execute(_FIRST.format(skip=clause), (pool, *skip)).fetchone()
        if row is None:
            return None
        ticket, listener, pid, started, address = row
        if liveness.alive(listener, pid, started):
            return ticket, bytes(address)
        skip.append(listener)
        if dead is not None:
            dead.append(listener)
    return None


def waiting_of(conn: sqlite3.Connection, pool: str, counted: int, dead: Iterable[int]) -> int:
    """The live waiters of `pool`, from its counter and the listeners known dead."""
    gone = list(dead)
    if not counted or not gone:
        return counted
    marks = ", ".join("?" * len(gone))
    (stale,) = conn.execute(
        f"SELECT count(*) FROM waiters WHERE pool = ? AND listener IN ({marks})", (pool, *gone)
    ).fetchone()
    return counted - stale


def register(
    conn: sqlite3.Connection, known: int | None, address: bytes, me: tuple[int, str]
) -> int:
    """The id of this process's listener row, made when missing (a new or restored file).

    Without a `known` id, the row this process made already is looked for (the
    table holds a row per process): its waiters and its watchers share one.
    """
    if known is not None:
        row = conn.execute(
            "SELECT 1 FROM listeners WHERE id = ? AND address = ?", (known, address)
        ).fetchone()
        if row is not None:
            return known
    else:
        row = conn.execute(
            "SELECT id FROM listeners WHERE address = ? AND pid = ? AND started = ?",
            (address, *me),
        ).fetchone()
        if row is not None:
            return int(row[0])
    (listener,) = conn.execute(
        "INSERT INTO listeners (pid, started, address) VALUES (?, ?, ?) RETURNING id",
        (*me, address),
    ).fetchone()
    return int(listener)


def drop_listeners(conn: sqlite3.Connection, listeners: Iterable[int]) -> set[str]:
    """Remove listeners, their waiters (counts kept) and their watchers; the pools
    whose queues changed."""
    pools: set[str] = set()
    for listener in listeners:
        counts = conn.execute(
            "SELECT pool, count(*) FROM waiters WHERE listener = ? GROUP BY pool", (listener,)
        ).fetchall()
        for pool, count in counts:
            conn.execute("UPDATE pools SET waiting = waiting - ? WHERE name = ?", (count, pool))
            pools.add(pool)
        conn.execute("DELETE FROM waiters WHERE listener = ?", (listener,))
        conn.execute("DELETE FROM watchers WHERE listener = ?", (listener,))
        conn.execute("DELETE FROM listeners WHERE id = ?", (listener,))
    return pools


def drop_ticket(conn: sqlite3.Connection, ticket: int) -> str | None:
    """Remove one waiter, its count kept; its pool, None when it was gone already."""
    row = conn.execute("DELETE FROM waiters WHERE id = ? RETURNING pool", (ticket,)).fetchone()
    if row is None:
        return None
    conn.execute("UPDATE pools SET waiting = waiting - 1 WHERE name = ?", (row[0],))
    return str(row[0])
