"""This process's reaper of expired leases on Redis, in bounded batches.

It looks at the pools this process granted or renewed a lease with a TTL in
(each host's processes reap what they leased; a pool nobody reaps is still
reclaimed a batch at a time by every script, and its reads stay exact).
"""

from __future__ import annotations

from ..waking import Reaper
from .commands import SCRIPTS, Commands
from .model import REAP_BATCH, REAP_PAUSE
from .replies import text


class ExpiryReaper:
    def __init__(self, commands: Commands) -> None:
        self._commands = commands
        self._expiring: set[str] = set()
        self._reaper = Reaper(self._reap, batch=REAP_BATCH)

    def expiring_in(self, pool: str) -> None:
        """A lease with a TTL was granted or renewed in `pool`."""
        self._expiring.add(pool)
        self._reaper.soon()

    def close(self) -> None:
        self._reaper.close()

    def _reap(self, limit: int) -> float | None:
        """One bounded reaper script per pool, all in one pipeline. The EXPIRED
        events they wrote are told in this, the reaper's, thread (rule R9)."""
        pools = sorted(self._expiring)
        if not pools:
            return None
        commands = [self._commands.lua_of(SCRIPTS["reap"], pool, str(limit)) for pool in pools]
        delays = []
        for pool, result in zip(pools, self._commands.pipeline(commands), strict=True):
            if isinstance(result, BaseException):
                raise result
            # reap's reply: 'OK', how many it reclaimed, seconds to the next expiry or ''
            reply = self._commands.journaled(pool, result)
            reclaimed, next_expiry = int(reply[1]), text(reply[2])
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
