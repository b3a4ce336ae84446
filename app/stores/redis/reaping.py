"""This process's reaper of expired leases on Redis, in bounded batches.

It looks at the pools this process granted or renewed a lease with a TTL in
(each host's processes reap what they leased; a pool nobody reaps is still
reclaimed a batch at a time by every script, and its reads stay exact).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..waking import Reaper
from . import wire
from .model import REAP_BATCH, REAP_PAUSE, pool_keys
from .replies import text

Run = Callable[[Sequence[wire.Command]], list[Any]]


class ExpiryReaper:
    def __init__(self, script: wire.LuaScript, run: Run, now: Callable[[], str]) -> None:
        """`run(commands)` sends them in one pipeline; `now()` is the scripts' first ARGV."""
        self._script = script
        self._run = run
        self._now = now
        self._expiring: set[str] = set()
        self._reaper = Reaper(self._reap, batch=REAP_BATCH)

    def expiring_in(self, pool: str) -> None:
        """A lease with a TTL was granted or renewed in `pool`."""
        self._expiring.add(pool)
        self._reaper.soon()

    def close(self) -> None:
        self._reaper.close()

    def _reap(self, limit: int) -> float | None:
        """One bounded reaper script per pool, all in one pipeline."""
        pools = sorted(self._expiring)
        if not pools:
            return None
        commands = [
            wire.Command.lua(self._script, pool_keys(pool), (self._now(), str(limit)))
            for pool in pools
        ]
        delays = []
        for pool, result in zip(pools, self._run(commands), strict=True):
            if isinstance(result, BaseException):
                raise result
            reclaimed, next_expiry = int(result[1]), text(result[2])
            if reclaimed >= limit:
                # More are expired. A pause between batches leaves Redis, and
                # its fsync with `appendfsync always`, to everyone else's
                # requests; reads count the rest as free meanwhile.
                delays.append(REAP_PAUSE)
            elif next_expiry:
                delays.append(float(next_expiry))
            else:
                self._expiring.discard(pool)
        return min(delays, default=None)
