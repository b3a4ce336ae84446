"""Which objects a grant takes in the SQLite store (rules R1, R10, R11, R13).

A `Taking` follows the pool's fresh order in memory (next_fresh, the skips'
bounds) while it takes, and writes the pool's row once, in `finish`: a fresh
grant, the service's hot path, is the one UPDATE it always was.
"""

from __future__ import annotations

import sqlite3

from ...pool.errors import exhausted
from . import runs
from .rows import PoolRow


class Taking:
    def __init__(self, conn: sqlite3.Connection, pool: str, row: PoolRow) -> None:
        self.conn, self.pool, self.size = conn, pool, row.size
        self.next_fresh, self.next_skip, self.skip_top = row.next_fresh, row.next_skip, row.skip_top
        self.taken: list[int] = []

    @property
    def tail(self) -> int:
        return max(self.next_fresh, self.skip_top + 1)

    # rule R1: never used first (ascending, size included), then the longest free;
    # rule R13: freed first with reuse_first
    def several(self, count: int, reuse_first: bool) -> list[int]:
        """The objects `count` single grants in a row would take, in that order."""
        fresh = self.next_fresh
        if count == 1 and not reuse_first and self.next_skip is None and fresh <= self.size:
            # The hot path: the next never-used object, nothing of it in a run.
            self.taken.append(fresh)
            self.next_fresh = fresh + 1
            return self.taken
        if reuse_first:
            self._freed(count)
            self._fresh(count - len(self.taken))
        else:
            self._fresh(count)
            self._freed(count - len(self.taken))
        if len(self.taken) < count:
            raise exhausted(self.pool)
        return self.taken

    def _fresh(self, count: int) -> None:
        while count > 0 and self.next_fresh <= self.size:
            first = self.next_fresh
            if self.next_skip is None:
                # The tail: nothing of it is in a run.
                last = min(self.size, first + count - 1)
                self.next_fresh = last + 1
            else:
                # Below a skip, so below the tail: these are in a run.
                last = min(self.size, self.next_skip - 1, first + count - 1)
                runs.remove(self.conn, self.pool, first, last, self.tail)
                self.next_fresh = last + 1
                if self.next_fresh == self.next_skip:
                    self.next_fresh, self.next_skip = runs.hop(self.conn, self.pool, last + 1)
            self.taken.extend(range(first, last + 1))
            count -= last - first + 1

    def _freed(self, count: int) -> None:
        if count <= 0:
            return
        # rule R6: retired objects above the size are skipped
        found = [
            obj
            for (obj,) in self.conn.execute(
                "SELECT obj FROM free_objects WHERE pool = ? AND obj <= ? "
                "ORDER BY freed_at, seq LIMIT ?",
                (self.pool, self.size, count),
            )
        ]
        if not found:
            return
        self.conn.executemany(
            "DELETE FROM free_objects WHERE pool = ? AND obj = ?",
            [(self.pool, obj) for obj in found],
        )
        tail = self.tail
        for obj in found:
            runs.remove(self.conn, self.pool, obj, obj, tail)
        self.taken.extend(found)

    # rule R11: a named object, fresh or freed
    def named(self, obj: int) -> None:
        """Take `obj`, known to be available (neither held nor cooling)."""
        freed = self.conn.execute(
            "DELETE FROM free_objects WHERE pool = ? AND obj = ? RETURNING obj", (self.pool, obj)
        ).fetchone()
        tail = self.tail
        if freed is not None:
            runs.remove(self.conn, self.pool, obj, obj, tail)
        else:
            if obj > tail:
                # The fresh objects between the tail and `obj` stay fresh, now as a run.
                runs.add(self.conn, self.pool, tail, obj - 1)
            runs.remove(self.conn, self.pool, obj, obj, tail)
            self._fresh_taken(obj, obj)
        self.taken.append(obj)

    # rule R10: k..k+c-1 for the lowest k at which all c are available
    def contiguous(self, count: int) -> list[int]:
        tail = self.tail
        first = runs.lowest_run(self.conn, self.pool, count, self.size, tail)
        if first is None:
            raise exhausted(self.pool)
        last = first + count - 1
        self.conn.execute(
            "DELETE FROM free_objects WHERE pool = ? AND obj >= ? AND obj <= ?",
            (self.pool, first, last),
        )
        runs.remove(self.conn, self.pool, first, last, tail)
        self._fresh_taken(first, last)
        self.taken.extend(range(first, last + 1))
        return self.taken

    def _fresh_taken(self, first: int, last: int) -> None:
        """first..last, all available, were taken: the fresh order moves past them,
        or skips the fresh ones among them later (rule R11)."""
        if last < self.next_fresh:
            return
        if first <= self.next_fresh:
            if self.next_skip is None:
                self.next_fresh = last + 1
            else:
                self.next_fresh, self.next_skip = runs.hop(self.conn, self.pool, last + 1)
            return
        runs.skip(self.conn, self.pool, first, last)
        self.next_skip = first if self.next_skip is None else min(self.next_skip, first)
        self.skip_top = max(self.skip_top, last)

    def finish(self, row: PoolRow) -> None:
        """Write the pool's row: its fresh order and its held count."""
        if (self.next_skip, self.skip_top) == (row.next_skip, row.skip_top):
            self.conn.execute(
                "UPDATE pools SET next_fresh = ?, held = held + ? WHERE name = ?",
                (self.next_fresh, len(self.taken), self.pool),
            )
            return
        self.conn.execute(
            "UPDATE pools SET next_fresh = ?, next_skip = ?, skip_top = ?, held = held + ? "
            "WHERE name = ?",
            (self.next_fresh, self.next_skip, self.skip_top, len(self.taken), self.pool),
        )
