"""Following pools' journals on SQLite: `Store.wait_for_events`, as `watchers.py` tells it."""

from __future__ import annotations

import sqlite3

from ...pool.events import Event
from ..waking import follow
from . import journal, waiters, watchers
from .core import Effects, SQLiteCore


class SQLiteFollowing(SQLiteCore):
    def wait_for_events(self, pool: str, after: int, first: int, timeout: float) -> list[Event]:
        unregistered = self._following.begin(pool)
        try:
            if unregistered:
                self._watch(pool)
            return follow(self._bell, lambda: self._events(pool, after, first), pool, timeout)
        finally:
            self._following.end(pool)

    def _events(self, pool: str, after: int, first: int) -> list[Event]:
        with self._read() as conn:
            return journal.read(conn, pool, after, first)

    def _watch(self, pool: str) -> None:
        """Have this process told of `pool`'s events, before its first read of them."""
        address = self._listener.address()

        def change(conn: sqlite3.Connection, fx: Effects) -> int:
            listener = waiters.register(conn, self._listener_id, address, self._liveness.me())
            watchers.watch(conn, pool, listener)
            return listener

        self._listener_id = self._transact(change)
        self._following.registered(pool, self._listener_id)

    def _unwatch_idle(self) -> None:
        """Stop being told of the pools nobody here followed for a while."""
        listener, idle = self._following.idle()
        if listener is None or not idle:
            return

        def change(conn: sqlite3.Connection, fx: Effects) -> None:
            dropped = self._following.drop(idle)
            watchers.unwatch(conn, dropped, listener)
            for pool in dropped:
                self._bell.forget(pool)

        # If this fails, the rows go with the listener's; changes meanwhile send
        # datagrams that this process ignores.
        self._commit(change)
