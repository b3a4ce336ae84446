"""What the Redis store makes before its operations, and makes again when Redis lost it.

`open()` loads the scripts, makes the default pool and sets `STORE_MARK`.
Every operation asks `ensure_open()` first, which opens a store whose
`open()` failed (Redis was down at start) or was never called, and which
looks, once after each new connection, whether the mark is still there: a
Redis that came back empty (restarted without its data) gets the default pool
again, while one that kept the mark keeps a default pool an admin deleted
deleted. Only a new connection makes it look, not every one blindly, or a
deleted default pool would come back whenever the connection pool grows.
`ping` and `check_ready` never call it: a health check only looks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .commands import Commands
from .model import STORE_MARK
from .names import PoolNames


class Opening:
    def __init__(
        self, commands: Commands, names: PoolNames, default_pool: tuple[str, int] | None
    ) -> None:
        self._commands = commands
        self._names = names
        self._default_pool = default_pool
        self._opened = False
        self._connects_seen = 0
        self._lock = threading.Lock()

    def open(self) -> None:
        with self._lock:
            if self._opened:
                return
            self._commands.load_scripts()
            self._make_default()
            self._opened = True
            # It wrote the default pool and the mark itself: the connections it
            # made need no look at the mark.
            self._connects_seen = self._commands.connects

    def ensure_open(self) -> None:
        """Before every operation: open, or make the default pool again where a
        new connection finds that Redis lost its data."""
        if self._opened and (
            self._default_pool is None or self._connects_seen == self._commands.connects
        ):
            return
        with self._lock:
            if not self._opened:
                self._make_default()
                self._opened = True
                self._connects_seen = self._commands.connects
                return
            connects = self._commands.connects
            if connects == self._connects_seen:
                return
            if not self._commands.plain("EXISTS", STORE_MARK, changes=False):
                self._make_default()
            self._connects_seen = connects

    def run(self, pool: str, script: Callable[[], list[Any]]) -> list[Any]:
        """`script()`'s reply on an opened store. A POOL_NOT_FOUND for the default
        pool from a connection made on the way is asked again once it is back:
        the server may have come back empty, and the script changed nothing."""
        self.ensure_open()
        connects = self._commands.connects
        reply = script()
        if (
            reply[0] == b"POOL_NOT_FOUND"
            and self._commands.connects != connects
            and self._default_pool is not None
            and pool == self._default_pool[0]
        ):
            self.ensure_open()
            reply = script()
        return reply

    def _make_default(self) -> None:
        if self._default_pool is None:
            return
        name, size = self._default_pool
        self._names.around_create(name, lambda: self._commands.script("ensure", name, str(size)))
        self._commands.plain("SET", STORE_MARK, "1")
