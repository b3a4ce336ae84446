"""The index of pool names, `objmgr:pool-names`, that `pools()` pages through.

The index lives in a slot of its own, so it is kept by separate commands
around each pool's script, never inside one (`model.py` says how); names of
deleted pools in it are skipped by the listing, which may therefore take more
than one look at the index to fill a page.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from ...pool.lease import PoolStats
from . import replies, wire
from .commands import Commands
from .model import MAX_STEPS, OLD_POOLS_KEY, POOL_NAMES_KEY, pool_keys
from .replies import Refused, text


class PoolNames:
    def __init__(self, commands: Commands) -> None:
        self._commands = commands
        self._migrated = False

    def around_create(self, name: str, create: Callable[[], list[Any]]) -> list[Any]:
        """`create()`'s reply, the name listed before it and again after it, in
        case a concurrent delete of this name unlisted it in between."""
        self._commands.plain("ZADD", POOL_NAMES_KEY, 0, name)
        reply = create()
        self._commands.plain("ZADD", POOL_NAMES_KEY, 0, name)
        return reply

    def after_delete(self, name: str) -> None:
        """Unlist a deleted pool, unless a create of the same name has run since."""
        self._commands.plain("ZREM", POOL_NAMES_KEY, name)
        if self._commands.plain("EXISTS", pool_keys(name)[0], changes=False):
            self._commands.plain("ZADD", POOL_NAMES_KEY, 0, name)

    def page(self, first: int, after: str) -> list[PoolStats]:
        """The pools named above `after`, in name order, at most `first`."""
        with wire.deadline(self._commands.timeout):
            self._migrate_once()
        found: list[PoolStats] = []
        for _ in range(MAX_STEPS):
            # A deadline per look: each is a bounded read of its own.
            with wire.deadline(self._commands.timeout):
                if len(found) >= first:
                    break
                names = self.listed(after, first - len(found))
                if not names:
                    break
                commands = [self._commands.lua("stats", name) for name in names]
                for name, raw in zip(names, self._commands.pipeline(commands), strict=True):
                    if isinstance(raw, BaseException):
                        raise raw
                    # stats' reply: a code, or 'OK', size, in use, available, waiting
                    result = self._commands.journaled(name, raw)
                    if text(result[0]) != "POOL_NOT_FOUND":
                        replies.refuse(text(result[0]), replies.STATS, Refused(name, reply=result))
                        found.append(replies.stats_from(name, result))
                after = names[-1]
        return found

    def listed(self, after: str, count: int) -> list[str]:
        """Up to `count` listed names above `after`, deleted pools' included."""
        low = "(" + after if after else "-"
        listed = self._commands.plain(
            "ZRANGE", POOL_NAMES_KEY, low, "+", "BYLEX", "LIMIT", 0, count, changes=False
        )
        return [text(name) for name in listed]

    def _migrate_once(self) -> None:
        """Read the set of names an older version kept into the sorted index, once."""
        if self._migrated:
            return
        old = self._commands.plain("SMEMBERS", OLD_POOLS_KEY, changes=False)
        if old:
            pairs = itertools.chain.from_iterable((0, name) for name in old)
            self._commands.plain("ZADD", POOL_NAMES_KEY, *pairs)
            self._commands.plain("DEL", OLD_POOLS_KEY)
        self._migrated = True
