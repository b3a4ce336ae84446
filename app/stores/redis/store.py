"""`RedisStore`: every change one Lua script, every operation bounded in time.

The data model is in `model.py`, the scripts in `lua/`, how commands travel
and what their failures mean in `wire.py` and `commands.py` (pipelines of
concurrent callers' scripts), the codes scripts answer in `replies.py`, what
must exist before operations in `opening.py`, the index of pool names in
`names.py`, owners' leases and revocation in `owned.py`, this process's
waiters in `queues.py` (their session and listener in `waiting.py`), its
reaper in `reaping.py`, its blocking reads of the journal in `following.py`.

Scripts answer a list whose first element is "OK" or a code, which the
table named where the script is called turns into the domain exception.
Beside its reply every script sends the journal entries it wrote (rule R9),
which `Commands.journaled` tells the listeners of before the reply is read
here, in the caller's thread or greenlet. A change whose reply was lost
(OUTCOME_UNKNOWN) may be in the journal with no listener told of it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from ...pool.errors import OutcomeUnknown, StoreUnavailable
from ...pool.events import DEFAULT_EVENTS_KEEP, Event
from ...pool.lease import AcquireRequest, Caller, Grant, Lease, PoolStats, RevokeFilter
from ...pool.policy import PoolPolicy
from ..base import Store, Ticket
from . import replies, wire
from .commands import Commands
from .following import Followers
from .model import MAX_STEPS, READY_KEY, READY_TTL_MS, events_key
from .names import PoolNames
from .opening import Opening
from .owned import Owned
from .queues import Queues
from .reaping import ExpiryReaper
from .replies import Refused, text
from .target import RedisTarget
from .topology import RedisOptions

_opt = replies.optional


def _caller(caller: Caller) -> tuple[str, str]:
    """Who asks, as the free and renew scripts read it: principal, then admin flag."""
    return _opt(caller.principal), "1" if caller.is_admin else "0"


class RedisStore(Store):
    def __init__(
        self,
        url: str,
        *,
        default_pool: tuple[str, int] | None = None,
        clock: Callable[[], float] | None = None,
        socket_timeout: float = 1.0,
        events_keep: int = DEFAULT_EVENTS_KEEP,
        options: RedisOptions | None = None,
    ) -> None:
        self._timeout = socket_timeout
        target = RedisTarget(url, socket_timeout, options or RedisOptions())
        self._commands = Commands(target, clock, events_keep, self._published)
        self._names = PoolNames(self._commands)
        self._opening = Opening(self._commands, self._names, default_pool)
        self._queues = Queues(target, self._script, self._commands.script)
        self._reaper = ExpiryReaper(self._commands)
        self._followers = Followers(target)
        self._owned = Owned(
            self._commands, self._names, self._script, self._opening.ensure_open, socket_timeout
        )

    def open(self) -> None:
        try:
            with wire.deadline(self._timeout):
                self._opening.open()
        except OutcomeUnknown as error:
            # Not open as far as this process knows: its next operation opens it,
            # and making the default pool twice changes nothing.
            raise StoreUnavailable(error.message) from error

    def _script(self, name: str, pool: str, *args: str) -> list[Any]:
        """An operation's script, on an opened store (`opening.py`)."""
        return self._opening.run(pool, lambda: self._commands.script(name, pool, *args))

    def close(self) -> None:
        self._followers.close()
        self._queues.close()
        self._reaper.close()
        self._commands.close()

    # pools --------------------------------------------------------------
    def ensure_pool(self, name: str, size: int) -> None:
        with wire.deadline(self._timeout):
            self._names.around_create(name, lambda: self._script("ensure", name, str(size)))

    def create_pool(
        self,
        name: str,
        size: int,
        principal: str | None = None,
        policy: PoolPolicy | None = None,
    ) -> PoolStats:
        given = _opt(None if policy is None else policy.to_json())
        with wire.deadline(self._timeout):
            reply = self._names.around_create(
                name, lambda: self._script("create", name, str(size), _opt(principal), given)
            )
        # create's reply: 'OK' and the stats, or POOL_EXISTS (POOL_CREATED written
        # on 'OK', and POLICY_CHANGED after it when a policy was given)
        replies.check(reply, replies.CREATE, Refused(name))
        return replies.stats_from(name, reply)

    def set_policy(self, name: str, policy: PoolPolicy, principal: str | None = None) -> PoolStats:
        with wire.deadline(self._timeout):
            reply = self._script("policy", name, _opt(policy.to_json()), _opt(principal))
        # policy's reply: 'OK' and the stats (POLICY_CHANGED written), or POOL_NOT_FOUND
        replies.check(reply, replies.POLICY, Refused(name))
        return replies.stats_from(name, reply)

    def resize_pool(self, name: str, size: int, principal: str | None = None) -> PoolStats:
        # A deadline per step: each is a bounded script of its own. The first
        # step writes POOL_RESIZED ("1"), the ones after only move retired objects.
        for step in range(MAX_STEPS):
            with wire.deadline(self._timeout):
                first = "1" if step == 0 else "0"
                reply = self._script("resize", name, str(size), _opt(principal), first)
                # resize's reply: 'OK', the stats, then 1 while retired objects are left
                replies.check(reply, replies.RESIZE, Refused(name))
                if int(reply[-1]) == 0:
                    break
        return replies.stats_from(name, reply)

    def delete_pool(self, name: str, force: bool, principal: str | None = None) -> PoolStats:
        with wire.deadline(self._timeout):
            reply = self._script("delete", name, "1" if force else "0", _opt(principal))
            # delete's reply: 'OK' and the stats before (POOL_DELETED written), or a refusal
            replies.check(reply, replies.DELETE, Refused(name))
            self._names.after_delete(name)
        return replies.stats_from(name, reply)

    def pool(self, name: str) -> PoolStats | None:
        with wire.deadline(self._timeout):
            reply = self._script("stats", name)
        if text(reply[0]) == "POOL_NOT_FOUND":
            return None
        replies.check(reply, replies.STATS, Refused(name))
        return replies.stats_from(name, reply)

    def pools(self, first: int, after: str) -> list[PoolStats]:
        with wire.deadline(self._timeout):
            self._opening.ensure_open()
        return self._names.page(first, after)

    # leases -------------------------------------------------------------
    def leases(self, pool: str, first: int, after: int, owner: str | None = None) -> list[Lease]:
        return self._owned.page(pool, first, after, owner)

    def owner_leases(self, owner: str, first: int) -> list[Lease]:
        return self._owned.every_pool(owner, first)

    def lease(self, pool: str, obj: int) -> Lease | None:
        with wire.deadline(self._timeout):
            reply = self._script("lease", pool, str(obj))
        replies.check(reply, replies.LEASE, Refused(pool, obj=obj))
        return replies.lease_from(pool, reply[1], reply[2]) if len(reply) > 1 else None

    @staticmethod
    def _request_key(request: AcquireRequest) -> str | None:
        if request.request_id is None:
            return None
        return json.dumps([request.owner, request.request_id])

    def grant(self, request: AcquireRequest, ticket: Ticket | None = None) -> Grant:
        session = "" if ticket is None else self._queues.session.current()
        args = (
            "" if ticket is None else str(ticket.id),
            session,
            _opt(self._request_key(request)),
            _opt(request.owner),
            _opt(request.label),
            _opt(request.request_id),
            "" if request.ttl is None else repr(float(request.ttl)),
            _opt(request.principal),
            str(request.count),
            "1" if request.contiguous else "0",
            _opt(None if request.obj is None else str(request.obj)),
        )
        # A deadline per step: each is a bounded script of its own.
        for _ in range(MAX_STEPS):
            with wire.deadline(self._timeout):
                # acquire's reply: 'OK', 1 for a replay (rule R2) else 0, then obj,
                # record pairs (GRANTED written for each unless replayed), RETRY,
                # or a refusal of replies.grant_refusals
                reply = self._script("acquire", request.pool, *args)
                if text(reply[0]) != "RETRY":
                    break
        replies.check(
            reply, replies.grant_refusals(request), Refused(request.pool, obj=request.obj)
        )
        if ticket is not None:
            self._queues.forget(ticket)
        leases = tuple(
            replies.lease_from(request.pool, obj, rec)
            for obj, rec in zip(reply[2::2], reply[3::2], strict=True)
        )
        if any(lease.expires_at is not None for lease in leases):
            self._reaper.expiring_in(request.pool)
        return Grant(leases, replayed=int(reply[1]) == 1)

    def revoke(self, pool: str, which: RevokeFilter, principal: str | None = None) -> list[Lease]:
        revoked = self._owned.revoke(pool, which, principal)
        if revoked:
            # Their objects may cool (rule R13): the reaper ends that too.
            self._reaper.expiring_in(pool)
        return revoked

    def free(self, pool: str, obj: int, caller: Caller, token: int | None) -> int:
        with wire.deadline(self._timeout):
            given = _opt(None if token is None else str(token))
            # free's reply: 'OK' (FREED written), or a refusal
            reply = self._script("free", pool, str(obj), *_caller(caller), given)
        replies.check(reply, replies.RELEASE, Refused(pool, obj=obj, caller=caller, token=token))
        return obj

    def renew(self, pool: str, obj: int, token: int, caller: Caller, ttl: float | None) -> Lease:
        with wire.deadline(self._timeout):
            reply = self._script(
                "renew",
                pool,
                str(obj),
                *_caller(caller),
                _opt(str(token)),
                "" if ttl is None else repr(float(ttl)),
            )
        # renew's reply: 'OK', obj, the renewed lease's record (RENEWED written), or a refusal
        refused = Refused(pool, obj=obj, caller=caller, token=token)
        replies.check(reply, replies.renew_refusals(ttl), refused)
        lease = replies.lease_from(pool, reply[1], reply[2])
        if lease.expires_at is not None:
            self._reaper.expiring_in(pool)
        return lease

    # waiting ------------------------------------------------------------
    def join_queue(self, pool: str) -> Ticket:
        return self._queues.join(pool)

    def leave_queue(self, ticket: Ticket) -> None:
        self._queues.leave(ticket)

    def wait_until_woken(self, ticket: Ticket, timeout: float) -> bool:
        return self._queues.room.wait(ticket, timeout)

    # the journal (rule R9) -----------------------------------------------
    def events(self, pool: str, after: int, first: int) -> list[Event]:
        if first <= 0:
            return []
        with wire.deadline(self._timeout):
            self._opening.ensure_open()
            # Entry ids are "SEQ-0": an exclusive range from `after`, found by id.
            start = f"({after}" if after >= 0 else "-"
            entries = self._commands.plain(
                "XRANGE", events_key(pool), start, "+", "COUNT", first, changes=False
            )
        return [replies.event_from(pool, entry) for entry in entries]

    def wait_for_events(self, pool: str, after: int, first: int, timeout: float) -> list[Event]:
        if first <= 0:
            return []
        try:
            with wire.deadline(self._timeout):
                self._opening.ensure_open()
        except OutcomeUnknown as error:
            # Only the default pool's making was in doubt, and the next call makes it.
            raise StoreUnavailable(error.message) from error
        return self._followers.read(pool, after, first, timeout)

    # health -------------------------------------------------------------
    def ping(self) -> None:
        with wire.deadline(self._timeout):
            self._commands.plain("PING", changes=False)

    def check_ready(self) -> None:
        """A PING of every primary (a Cluster's too), a write that changes no
        lease and makes no pool (the scratch key `objmgr:ready`), then a read,
        within one socket timeout."""
        with wire.deadline(self._timeout):
            self._commands.plain("PING", changes=False)
            # Who checked when, for an operator who looks; nothing reads it.
            stamp = f"{os.getpid()}@{time.time():.3f}"
            self._commands.plain("SET", READY_KEY, stamp, "PX", READY_TTL_MS, changes=False)
            self._commands.plain("GET", READY_KEY, changes=False)


__all__ = ["RedisStore"]
