"""`RedisStore`: every change one Lua script, every operation bounded in time.

The data model is in `model.py`, the scripts in `lua/`, how commands travel
and what their failures mean in `wire.py`, the codes scripts answer in
`replies.py`, this process's waiters in `queues.py` (their session and
listener in `waiting.py`).

Scripts answer a list whose first element is "OK" or a code, which the
table named where the script is called turns into the domain exception. The
scripts a process's callers send while its previous batch is on the wire go
to Redis together, in one pipeline (`batching.Batcher`): one round trip, and
with `appendfsync always` usually one fsync, serves them all.

Time is the server's `TIME` unless the store was given a clock, whose reading
then travels as the first ARGV ("" means: ask Redis). Scripts are replicated
by their effects (Redis 5 or later), so reading TIME before writing is safe.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import redis

from ...pool.errors import PoolError
from ...pool.lease import AcquireRequest, Caller, Lease, PoolStats
from ..base import Store, Ticket
from ..batching import Batch, Batcher
from . import replies, wire
from .model import (
    OLD_POOLS_KEY,
    POOL_NAMES_KEY,
    READY_KEY,
    READY_TTL_MS,
    STORE_MARK,
    pool_keys,
)
from .queues import Queues
from .reaping import ExpiryReaper
from .replies import Refused, refuse

CHANGING = ("ensure", "create", "resize", "delete", "acquire", "free", "renew", "join", "leave")
# `reap` and `head` write (reclaimed leases, dropped dead waiters) but decide
# nothing a client is told: a lost reply leaves nothing to find out.
READING = ("stats", "leases", "lease", "head", "reap")
SCRIPTS = wire.load_scripts(CHANGING, READING)

#: Times one operation runs its script again while the script makes progress
#: in bounded steps (retired objects set aside or put back, dead waiters
#: dropped, expired leases skipped).
MAX_STEPS = 1000


def _opt(value: str | None) -> str:
    return "" if value is None else "=" + value


def _caller(caller: Caller) -> tuple[str, str]:
    """Who asks, as the free and renew scripts read it: principal, then admin flag."""
    return _opt(caller.principal), "1" if caller.is_admin else "0"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Pending(NamedTuple):
    command: wire.Command
    until: float


class RedisStore(Store):
    def __init__(
        self,
        url: str,
        *,
        default_pool: tuple[str, int] | None = None,
        clock: Callable[[], float] | None = None,
        socket_timeout: float = 1.0,
    ) -> None:
        self.url = url
        self._default_pool = default_pool
        self._clock = clock
        self._timeout = socket_timeout
        # No retries: a script whose reply was lost may have run, and running
        # it again could grant a second object. Callers retry with a requestId.
        self._pool = redis.ConnectionPool.from_url(
            url,
            connection_class=wire.DeadlineConnection,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            redis_connect_func=self._on_connect,
        )
        self._batcher: Batcher[_Pending] = Batcher(self._send)
        # The default pool is made on this process's first use, as the SQLite
        # store makes it when it opens its file, and again when a new
        # connection finds that Redis lost its data (no STORE_MARK): not on
        # every new connection, or a default pool an admin deleted would come
        # back whenever the connection pool grows.
        self._default_pending = default_pool is not None
        self._connect_count = itertools.count(1)
        self._connects = 0
        self._connects_checked = 0
        self._default_lock = threading.Lock()
        self._names_migrated = False
        self._queues = Queues(url, socket_timeout, self._script, self._run)
        self._reaper = ExpiryReaper(
            SCRIPTS["reap"],
            lambda commands: wire.run(self._pool, commands, wire.deadline_in(self._timeout)),
            self._now,
        )

    # connection ---------------------------------------------------------
    def _on_connect(self, connection: redis.Connection) -> None:
        connection.on_connect()
        self._connects = next(self._connect_count)

    def _now(self) -> str:
        return "" if self._clock is None else repr(float(self._clock()))

    def _send(self, batch: Batch[_Pending]) -> None:
        jobs = batch.take()
        until = min(job.work.until for job in jobs)
        results = wire.run(self._pool, [job.work.command for job in jobs], until)
        for job, result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                job.error = result
            else:
                job.result = result

    def _command(self, command: wire.Command) -> Any:
        return self._batcher.submit(_Pending(command, wire.deadline_in(self._timeout)))

    def _plain(self, *args: Any, changes: bool = True) -> Any:
        return self._command(wire.Command(args, changes))

    def _run(self, name: str, pool: str, *args: str) -> list[Any]:
        keys = pool_keys(pool)
        reply: list[Any] = self._command(
            wire.Command.lua(SCRIPTS[name], keys, (self._now(), *args))
        )
        return reply

    def _script(self, name: str, pool: str, *args: str) -> list[Any]:
        self._check_default()
        connects = self._connects
        reply = self._run(name, pool, *args)
        if (
            reply[0] == b"POOL_NOT_FOUND"
            and self._connects != connects
            and self._default_pool is not None
            and pool == self._default_pool[0]
        ):
            # Connected anew on the way: the server may have come back empty.
            # The script changed nothing, so it may run again.
            self._check_default()
            reply = self._run(name, pool, *args)
        return reply

    def _default_checked(self) -> bool:
        return self._default_pool is None or (
            not self._default_pending and self._connects_checked == self._connects
        )

    def _check_default(self) -> None:
        if self._default_checked():
            return
        with self._default_lock:
            if self._default_checked():
                return
            assert self._default_pool is not None
            connects = self._connects
            if self._default_pending or not self._plain("EXISTS", STORE_MARK, changes=False):
                self._ensure(*self._default_pool)
                self._plain("SET", STORE_MARK, "1")
                self._default_pending = False
            self._connects_checked = connects

    def _ensure(self, name: str, size: int) -> None:
        self._plain("ZADD", POOL_NAMES_KEY, 0, name)
        self._run("ensure", name, str(size))
        self._plain("ZADD", POOL_NAMES_KEY, 0, name)

    def close(self) -> None:
        self._queues.close()
        self._reaper.close()
        self._pool.disconnect()

    # replies ------------------------------------------------------------
    @staticmethod
    def _check(
        reply: list[Any], table: Mapping[str, Callable[[Refused], PoolError]], refused: Refused
    ) -> None:
        refuse(_text(reply[0]), table, refused._replace(reply=reply))

    # pools --------------------------------------------------------------
    def ensure_pool(self, name: str, size: int) -> None:
        with wire.deadline(self._timeout):
            self._ensure(name, size)

    def create_pool(self, name: str, size: int) -> PoolStats:
        with wire.deadline(self._timeout):
            self._plain("ZADD", POOL_NAMES_KEY, 0, name)
            reply = self._script("create", name, str(size))
            # Again after the script, in case a concurrent delete of this name
            # removed it from the index between the first ZADD and the script.
            self._plain("ZADD", POOL_NAMES_KEY, 0, name)
        self._check(reply, replies.CREATE, Refused(name))
        return replies.stats_from(name, reply)

    def resize_pool(self, name: str, size: int) -> PoolStats:
        # A deadline per step: each is a bounded script of its own.
        for _ in range(MAX_STEPS):
            with wire.deadline(self._timeout):
                reply = self._script("resize", name, str(size))
                self._check(reply, replies.RESIZE, Refused(name))
                if int(reply[-1]) == 0:
                    break
        return replies.stats_from(name, reply)

    def delete_pool(self, name: str, force: bool) -> PoolStats:
        with wire.deadline(self._timeout):
            reply = self._script("delete", name, "1" if force else "0")
            self._check(reply, replies.DELETE, Refused(name))
            self._plain("ZREM", POOL_NAMES_KEY, name)
            # A create of the same name may have run since our script.
            if self._plain("EXISTS", pool_keys(name)[0], changes=False):
                self._plain("ZADD", POOL_NAMES_KEY, 0, name)
        return replies.stats_from(name, reply)

    def pool(self, name: str) -> PoolStats | None:
        with wire.deadline(self._timeout):
            reply = self._script("stats", name)
        if _text(reply[0]) == "POOL_NOT_FOUND":
            return None
        self._check(reply, replies.STATS, Refused(name))
        return replies.stats_from(name, reply)

    def pools(self, first: int, after: str) -> list[PoolStats]:
        found: list[PoolStats] = []
        with wire.deadline(self._timeout):
            self._check_default()
            self._migrate_names()
        # Names of pools deleted meanwhile are skipped, so a page may take
        # more than one look at the index.
        for _ in range(MAX_STEPS):
            with wire.deadline(self._timeout):
                if len(found) >= first:
                    break
                low = "(" + after if after else "-"
                names = [
                    _text(name)
                    for name in self._plain(
                        "ZRANGE",
                        POOL_NAMES_KEY,
                        low,
                        "+",
                        "BYLEX",
                        "LIMIT",
                        0,
                        first - len(found),
                        changes=False,
                    )
                ]
                if not names:
                    break
                commands = [
                    wire.Command.lua(SCRIPTS["stats"], pool_keys(name), (self._now(),))
                    for name in names
                ]
                results = wire.run(self._pool, commands, wire.deadline_in(self._timeout))
                for name, result in zip(names, results, strict=True):
                    if isinstance(result, BaseException):
                        raise result
                    if _text(result[0]) != "POOL_NOT_FOUND":
                        self._check(result, replies.STATS, Refused(name))
                        found.append(replies.stats_from(name, result))
                after = names[-1]
        return found

    def _migrate_names(self) -> None:
        """Read the set of names an older version kept into the sorted index, once."""
        if self._names_migrated:
            return
        old = self._plain("SMEMBERS", OLD_POOLS_KEY, changes=False)
        if old:
            self._plain("ZADD", POOL_NAMES_KEY, *itertools.chain.from_iterable((0, n) for n in old))
            self._plain("DEL", OLD_POOLS_KEY)
        self._names_migrated = True

    # leases -------------------------------------------------------------
    def leases(self, pool: str, first: int, after: int) -> list[Lease]:
        found: list[Lease] = []
        # A deadline per step: each is a bounded script of its own.
        for _ in range(MAX_STEPS):
            with wire.deadline(self._timeout):
                reply = self._script("leases", pool, str(after), str(first - len(found)))
                self._check(reply, replies.LEASES, Refused(pool))
                found.extend(
                    replies.lease_from(pool, obj, rec)
                    for obj, rec in zip(reply[2::2], reply[3::2], strict=True)
                )
                # The script stopped at its bound, skipping expired leases.
                if len(found) >= first or not reply[1]:
                    break
                after = int(reply[1])
        return found

    def lease(self, pool: str, obj: int) -> Lease | None:
        with wire.deadline(self._timeout):
            reply = self._script("lease", pool, str(obj))
        self._check(reply, replies.LEASE, Refused(pool, obj=obj))
        return replies.lease_from(pool, reply[1], reply[2]) if len(reply) > 1 else None

    @staticmethod
    def _request_key(request: AcquireRequest) -> str | None:
        if request.request_id is None:
            return None
        return json.dumps([request.owner, request.request_id])

    def acquire(self, request: AcquireRequest, ticket: Ticket | None = None) -> Lease:
        session = "" if ticket is None else self._queues.session.current()
        args = (
            "" if ticket is None else str(ticket.id),
            session,
            _opt(self._request_key(request)),
            _opt(request.owner),
            _opt(request.label),
            _opt(request.request_id),
            "" if request.ttl is None else repr(float(request.ttl)),
        )
        # A deadline per step: each is a bounded script of its own.
        for _ in range(MAX_STEPS):
            with wire.deadline(self._timeout):
                reply = self._script("acquire", request.pool, *args)
                if _text(reply[0]) != "RETRY":
                    break
        self._check(reply, replies.ACQUIRE, Refused(request.pool))
        if ticket is not None:
            self._queues.forget(ticket)
        lease = replies.lease_from(request.pool, reply[1], reply[2])
        if lease.expires_at is not None:
            self._reaper.expiring_in(request.pool)
        return lease

    def free(self, pool: str, obj: int, caller: Caller, token: int | None) -> int:
        with wire.deadline(self._timeout):
            given = _opt(None if token is None else str(token))
            reply = self._script("free", pool, str(obj), *_caller(caller), given)
        self._check(reply, replies.RELEASE, Refused(pool, obj=obj, caller=caller, token=token))
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
        self._check(reply, replies.RELEASE, Refused(pool, obj=obj, caller=caller, token=token))
        lease = replies.lease_from(pool, reply[1], reply[2])
        if lease.expires_at is not None:
            self._reaper.expiring_in(pool)
        return lease

    # waiting ------------------------------------------------------------
    def join_queue(self, pool: str) -> Ticket:
        return self._queues.join(pool)

    def leave_queue(self, ticket: Ticket) -> None:
        self._queues.leave(ticket)

    def wait_for_change(self, ticket: Ticket, timeout: float) -> bool:
        return self._queues.room.wait(ticket, timeout)

    # health -------------------------------------------------------------
    def ping(self) -> None:
        with wire.deadline(self._timeout):
            self._plain("PING", changes=False)
            self._check_default()

    def check_ready(self) -> None:
        """A write that changes no lease, then a read, within one socket timeout."""
        with wire.deadline(self._timeout):
            # Who checked when, for an operator who looks; nothing reads it.
            stamp = f"{os.getpid()}@{time.time():.3f}"
            self._plain("SET", READY_KEY, stamp, "PX", READY_TTL_MS, changes=False)
            self._plain("GET", READY_KEY, changes=False)
            self._check_default()


__all__ = ["RedisStore"]
