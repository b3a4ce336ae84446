"""Followers of pools' journals on one host: who hears, after COMMIT, that a pool got events.

A process whose `Store.wait_for_events` follows a pool registers itself once
as a watcher of it: a row `watchers(pool, listener)`, the listener being the
process's datagram socket (`wake.py`), the one its waiters are woken on. A
change that wrote events reads the watchers of each pool it wrote to, one
probe of the primary key, which finds nothing when nobody watches; after
COMMIT it sends each the pool's name, and rings the followers of its own
process directly, without a datagram. A send that fails names a watcher whose
process may be gone: `wake.alive` is asked, a dead one is skipped from then
on and removed, with its listener, by the next sweep. A process drops its rows
of the pools it has not followed for `IDLE_AFTER` seconds, and every row when
its store closes. What a datagram lost or a row registered too late misses,
the follower's own recheck (`waking.follow`) finds within a second.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import NamedTuple

from .waiters import Liveness
from .wake import Listener

#: Seconds without a follower after which a process stops being told of a pool.
IDLE_AFTER = 30.0

_WATCHERS = (
    "SELECT w.listener, l.pid, l.started, l.address FROM watchers w "
    "JOIN listeners l ON l.id = w.listener WHERE w.pool = ?"
)


class Watcher(NamedTuple):
    pool: str
    listener: int
    pid: int
    started: str
    address: bytes


def of_pools(conn: sqlite3.Connection, pools: Iterable[str], own: int | None) -> list[Watcher]:
    """The other processes' watchers of `pools`; inside the change's transaction."""
    found: list[Watcher] = []
    for pool in pools:
        for listener, pid, started, address in conn.execute(_WATCHERS, (pool,)):
            if listener != own:
                found.append(Watcher(pool, listener, pid, started, bytes(address)))
    return found


def watch(conn: sqlite3.Connection, pool: str, listener: int) -> None:
    conn.execute(
        "INSERT INTO watchers (pool, listener) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (pool, listener),
    )


def unwatch(conn: sqlite3.Connection, pools: Iterable[str], listener: int) -> None:
    conn.executemany(
        "DELETE FROM watchers WHERE pool = ? AND listener = ?",
        [(pool, listener) for pool in pools],
    )


def tell(watchers: Iterable[Watcher], listener: Listener, liveness: Liveness) -> bool:
    """Send each live watcher its pool's name, after COMMIT; whether one was found
    dead (its rows are then for a sweep)."""
    found_dead = False
    for watcher in watchers:
        if liveness.known_dead(watcher.listener):
            continue
        if not listener.send(watcher.address, watcher.pool) and not liveness.alive(
            watcher.listener, watcher.pid, watcher.started
        ):
            found_dead = True
    return found_dead


class Following:
    """The pools this process follows: which are registered, which are followed now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._listener: int | None = None
        self._registered: set[str] = set()
        # pool -> followers in `wait_for_events` now, and when the last one left.
        self._active: dict[str, int] = {}
        self._left: dict[str, float] = {}

    def _here(self) -> None:
        # Under the lock. A forked child registers on its own: the rows are the parent's.
        if self._pid != os.getpid():
            self._pid, self._listener = os.getpid(), None
            self._registered, self._active, self._left = set(), {}, {}

    def own(self) -> int | None:
        """This process's listener as a watcher, to be rung without a datagram."""
        return self._listener if self._pid == os.getpid() else None

    def begin(self, pool: str) -> bool:
        """A follower of `pool` starts; whether the pool needs registering first."""
        with self._lock:
            self._here()
            self._active[pool] = self._active.get(pool, 0) + 1
            return pool not in self._registered

    def end(self, pool: str) -> None:
        with self._lock:
            count = self._active.get(pool, 0) - 1
            if count > 0:
                self._active[pool] = count
            else:
                self._active.pop(pool, None)
                self._left[pool] = time.monotonic()

    def registered(self, pool: str, listener: int) -> None:
        with self._lock:
            self._here()
            if listener != self._listener:
                # A new listener row (a restored file): the old rows are gone with it.
                self._registered = set()
            self._listener = listener
            self._registered.add(pool)

    def idle(self) -> tuple[int | None, list[str]]:
        """This process's listener and the registered pools nobody followed for
        `IDLE_AFTER` seconds: candidates for `drop`."""
        with self._lock:
            if self._pid != os.getpid() or not self._registered:
                return None, []
            since = time.monotonic() - IDLE_AFTER
            return self._listener, [
                pool
                for pool in self._registered
                if pool not in self._active and self._left.get(pool, 0.0) < since
            ]

    def drop(self, pools: Iterable[str]) -> list[str]:
        """Of `pools`, those still nobody follows, forgotten as registered; called in
        the transaction that deletes their rows, so that a follower starting now
        registers again after it."""
        with self._lock:
            dropped = [pool for pool in pools if pool not in self._active]
            for pool in dropped:
                self._registered.discard(pool)
                self._left.pop(pool, None)
            return dropped
