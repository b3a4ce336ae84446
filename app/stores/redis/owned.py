"""Owners' leases (rule R15) and revocation (rule R14): pool by pool, in bounded steps.

Each step is one script on one pool's keys (`lua/leases.lua`, `lua/revoke.lua`),
so no script touches two pools; what spans pools, `every_pool`, lists the pool
names a page at a time (`names.py`) and asks each pool of the page in one
pipeline, costing O(pools visited) scripts of O(page) each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...pool.lease import Lease, RevokeFilter
from . import replies, wire
from .commands import Commands
from .model import MAX_STEPS, REVOKE_BATCH
from .names import PoolNames
from .replies import Refused, optional, text

Script = Callable[..., list[Any]]

#: Pools asked at once, in one pipeline, for an owner's leases.
POOLS_AT_ONCE = 50


def _leases_of(pool: str, reply: list[Any]) -> list[Lease]:
    # leases' and revoke's replies: 'OK', a cursor, then obj, record pairs
    return [
        replies.lease_from(pool, obj, rec)
        for obj, rec in zip(reply[2::2], reply[3::2], strict=True)
    ]


class Owned:
    def __init__(
        self,
        commands: Commands,
        names: PoolNames,
        script: Script,
        ensure_open: Callable[[], None],
        timeout: float,
    ) -> None:
        self._commands = commands
        self._names = names
        self._script = script
        self._ensure_open = ensure_open
        self._timeout = timeout

    def page(self, pool: str, first: int, after: int, owner: str | None) -> list[Lease]:
        """Live leases of `pool` above `after`, at most `first`, only `owner`'s when given."""
        found: list[Lease] = []
        # A deadline per step: each is a bounded script of its own.
        for _ in range(MAX_STEPS):
            with wire.deadline(self._timeout):
                want = str(first - len(found))
                reply = self._script("leases", pool, str(after), want, optional(owner))
                if text(reply[0]) == "RETRY":
                    continue  # an older pool's owners' index being built
                replies.check(reply, replies.LEASES, Refused(pool))
                found.extend(_leases_of(pool, reply))
                # The script stopped at its bound, skipping expired leases.
                if len(found) >= first or not reply[1]:
                    break
                after = int(reply[1])
        return found

    def every_pool(self, owner: str, first: int) -> list[Lease]:
        """`owner`'s live leases of every pool, in (pool, object) order, at most `first`."""
        found: list[Lease] = []
        after = ""
        for _ in range(MAX_STEPS):
            if len(found) >= first:
                break
            with wire.deadline(self._timeout):
                self._ensure_open()
                names = self._names.listed(after, POOLS_AT_ONCE)
                if not names:
                    break
                want = str(first - len(found))
                commands = [
                    self._commands.lua("leases", name, "0", want, optional(owner)) for name in names
                ]
                results = self._commands.pipeline(commands)
            for name, raw in zip(names, results, strict=True):
                if isinstance(raw, BaseException):
                    raise raw
                reply = self._commands.journaled(name, raw)
                code = text(reply[0])
                if code == "POOL_NOT_FOUND" or len(found) >= first:
                    continue  # deleted since it was listed
                if code == "RETRY" or reply[1]:
                    # More than one step's worth in this pool: page through it.
                    found.extend(self.page(name, first - len(found), 0, owner))
                    continue
                replies.check(reply, replies.LEASES, Refused(name))
                found.extend(_leases_of(name, reply))
            after = names[-1]
        return found[:first]

    def revoke(self, pool: str, which: RevokeFilter, principal: str | None) -> list[Lease]:
        """Rule R14 in batches of at most REVOKE_BATCH leases, one script each."""
        fixed = (
            optional(principal),
            optional(which.reason),
            optional(which.owner),
            optional(which.label_prefix),
        )
        revoked: list[Lease] = []
        if which.objs is not None:
            objs = sorted(which.objs)
            # An empty list still asks once: the pool must exist.
            chunks = [objs[at : at + REVOKE_BATCH] for at in range(0, len(objs), REVOKE_BATCH)]
            for chunk in chunks or [[]]:
                listed = "=" + ",".join(str(obj) for obj in chunk)
                revoked.extend(self._revoke_step(pool, (*fixed, "0", listed))[0])
            return revoked
        after = "0"
        for _ in range(MAX_STEPS):
            batch, after = self._revoke_step(pool, (*fixed, after, ""))
            revoked.extend(batch)
            if not after:
                break
        return revoked

    def _revoke_step(self, pool: str, args: tuple[str, ...]) -> tuple[list[Lease], str]:
        """One batch: the leases it revoked, and the object to go on from ('' at the end)."""
        for _ in range(MAX_STEPS):
            with wire.deadline(self._timeout):
                # revoke's reply: 'OK', the last object looked at ('' at the end),
                # then the revoked leases' obj, record pairs (REVOKED written for
                # each); RETRY; or POOL_NOT_FOUND
                reply = self._script("revoke", pool, *args)
                if text(reply[0]) != "RETRY":
                    break
        replies.check(reply, replies.REVOKE, Refused(pool))
        return _leases_of(pool, reply), text(reply[1])
