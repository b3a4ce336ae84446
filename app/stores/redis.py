"""`redis://HOST:PORT/DB`: pools shared by every worker on every host.

Data model. Every key of pool NAME carries the hash tag `{pool:NAME}`, so all
of one pool's keys live in one cluster slot and every script below touches
the keys of one pool only; that is what lets the store run on Redis Cluster
unchanged. `P` stands for `objmgr:{pool:NAME}`:

    P:meta      hash   size, next_fresh, created_at
        next_fresh: the lowest object never handed out; every object below it
        is held or in P:free, every object from it up has never been used, so
        a pool of any size costs one small hash.
    P:counters  hash   token, ticket, free_seq
        The last fencing token, waiter ticket and free-queue sequence number.
        Never deleted, not even with the pool, so tokens keep growing when a
        pool is deleted and made again (and a ticket of the old pool can
        never be mistaken for one of the new).
    P:leases    hash   obj -> JSON {token, owner, label, request_id, rk,
                       acquired_at, expires_at, ttl}
        Held objects. Numbers are kept as strings written with %.17g, which
        round-trip a double exactly (Lua's own tostring keeps 14 digits).
    P:held      zset   obj scored by obj: leases in object order, for paging
                       and for counting the held objects within the size.
    P:expiry    zset   obj scored by expires_at, leases with a TTL only.
    P:free      zset   obj scored by free_seq: freed (or reclaimed) objects,
                       longest free first. Objects above the size after a
                       shrink are skipped, not moved, so they come back in
                       their turn if the pool grows again.
    P:requests  hash   rk -> obj, rk being JSON [owner, request_id]: the live
                       lease of an idempotent acquire.
    P:queue     zset   waiter ticket scored by ticket: arrival order.
    P:seen      zset   waiter ticket scored by its last heartbeat. A waiter not
                       seen for `WAITER_LIVENESS` seconds died and is skipped;
                       one dead for ten times that is forgotten on the next
                       join.

    objmgr:pools  set  names of the pools, for `pools()` only.
        It lives in a slot of its own, so it is updated by separate commands
        around the pool's script, never inside one: a create adds the name
        before its script (and again after, see `delete_pool`), a delete
        removes it after its script and puts it back if the pool exists again
        by then. Nothing but listing reads it, so it can never grant, refuse
        or lose a lease; names of deleted pools in it are skipped. The one
        gap: a process dying between a create's script and its second SADD
        while another deletes the same name leaves that pool out of the
        listing until the next create or ensure of it; `pool(name)` and every
        lease operation are unaffected.
    objmgr:initialized  string  set once the default pool was made. A new
        connection that finds it gone knows Redis lost its data and makes the
        default pool again; one that finds it knows a missing default pool
        was deleted on purpose.

Every change is one Lua script (EVALSHA, loaded again on NOSCRIPT), which
Redis runs atomically; each script first reclaims the pool's expired leases,
queued in the order they expired. Scripts answer a list whose first element
is "OK" or an `ErrorCode` name that Python turns into the domain exception.
The scripts that a process's callers send while its previous batch is on the
wire go to Redis together, in one pipeline (`batching.Batcher`). It is not
MULTI: each script is still atomic on its own and each caller gets its own
script's reply or error, but one round trip serves them all, and with
`appendfsync always` usually one fsync too.

Time is the server's `TIME` unless the store was given a clock, whose reading
then travels as the first ARGV ("" means: ask Redis). Scripts are replicated
by their effects (Redis 5 or later), so reading TIME before writing is safe.

With `appendonly yes` and `appendfsync always` Redis replies only after the
script's writes are on disk, so an acknowledged grant survives a crash.
Scripts that write nothing (most reads and waiters' polls) are not logged.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import (
    ChildDeadlockedError,
    ClusterDownError,
    ConnectionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)
from redis.retry import Retry

from ..pool.errors import (
    PoolExists,
    PoolInUse,
    StoreUnavailable,
    exhausted,
    not_allocated,
    out_of_range,
    pool_not_found,
)
from ..pool.lease import AcquireRequest, Caller, Lease, PoolStats, check_release
from .base import Store, Ticket
from .batching import Batch, Batcher, Job

WAITER_LIVENESS = 1.0
WAITER_HEARTBEAT = 0.2

POOLS_KEY = "objmgr:pools"
STORE_MARK = "objmgr:initialized"
KEY_PARTS = ("meta", "counters", "free", "leases", "held", "expiry", "requests", "queue", "seen")

# Errors that mean "Redis cannot serve now", as opposed to a bug in a script.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    ReadOnlyError,
    OutOfMemoryError,
    ClusterDownError,
    TryAgainError,
    ChildDeadlockedError,
    OSError,
)
UNAVAILABLE_REPLIES = ("MISCONF", "BUSY", "NOREPLICAS", "MASTERDOWN", "LOADING")

PRELUDE = (
    f"local LIVENESS = {WAITER_LIVENESS!r}\n"
    + """
local meta_key, counters_key, free_key = KEYS[1], KEYS[2], KEYS[3]
local leases_key, held_key, expiry_key = KEYS[4], KEYS[5], KEYS[6]
local requests_key, queue_key, seen_key = KEYS[7], KEYS[8], KEYS[9]

local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end

local function num(x) return string.format('%.17g', x) end
local function int(x) return string.format('%d', x) end
-- Optional strings travel as '' (none) or '=' .. value.
local function opt(s) if s == '' then return nil end return string.sub(s, 2) end

local function pool_size()
  local row = redis.call('HMGET', meta_key, 'size', 'next_fresh')
  if not row[1] then return nil end
  return tonumber(row[1]), tonumber(row[2])
end

local function release(obj)
  local rec = redis.call('HGET', leases_key, obj)
  if rec then
    local rk = cjson.decode(rec).rk
    if rk and redis.call('HGET', requests_key, rk) == obj then
      redis.call('HDEL', requests_key, rk)
    end
  end
  redis.call('HDEL', leases_key, obj)
  redis.call('ZREM', held_key, obj)
  redis.call('ZREM', expiry_key, obj)
  redis.call('ZADD', free_key, redis.call('HINCRBY', counters_key, 'free_seq', 1), obj)
end

local function reclaim()
  local expired = redis.call('ZRANGEBYSCORE', expiry_key, '-inf', num(now), 'WITHSCORES')
  if #expired == 0 then return end
  local order = {}
  for i = 1, #expired, 2 do
    order[#order + 1] = {tonumber(expired[i + 1]), tonumber(expired[i]), expired[i]}
  end
  -- The zset breaks ties between equal expiries by member text ('10' < '9').
  table.sort(order, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  for _, item in ipairs(order) do release(item[3]) end
end

local function first_free(size)
  local offset = 0
  while true do
    local batch = redis.call('ZRANGE', free_key, offset, offset + 99)
    if #batch == 0 then return nil end
    for _, obj in ipairs(batch) do
      if tonumber(obj) <= size then return obj end
    end
    offset = offset + 100
  end
end

local function live_head()
  local since = now - LIVENESS
  local offset = 0
  while true do
    local ids = redis.call('ZRANGE', queue_key, offset, offset + 63)
    if #ids == 0 then return nil end
    for _, id in ipairs(ids) do
      local seen = redis.call('ZSCORE', seen_key, id)
      if seen and tonumber(seen) > since then return id end
    end
    offset = offset + 64
  end
end

local function drop_ticket(ticket)
  if ticket ~= '' then
    redis.call('ZREM', queue_key, ticket)
    redis.call('ZREM', seen_key, ticket)
  end
end

local function stats(size)
  local in_use = redis.call('ZCARD', held_key)
  local below = redis.call('ZCOUNT', held_key, '-inf', size)
  local waiting = redis.call('ZCOUNT', seen_key, '(' .. num(now - LIVENESS), '+inf')
  return {'OK', size, in_use, size - below, waiting}
end

-- The rule of app/pool/lease.py check_release: owner before token.
local function refusal(rec, principal, is_admin, token)
  local lease = cjson.decode(rec)
  if is_admin ~= '1' and lease.owner ~= principal then return 'NOT_OWNER' end
  if token and token ~= lease.token then return 'STALE_TOKEN' end
  return nil
end

local function held(obj, size)
  local rec = redis.call('HGET', leases_key, obj)
  if rec then return rec, nil end
  local n = tonumber(obj)
  if n < 1 or n > size then return nil, {'OUT_OF_RANGE', size} end
  return nil, {'NOT_ALLOCATED'}
end

-- The lease of object ARGV[2], if the caller (ARGV[3] principal, ARGV[4]
-- is_admin, ARGV[5] token) may free or renew it; else the refusal.
local function releasable()
  local size = pool_size()
  if not size then return nil, {'POOL_NOT_FOUND'} end
  reclaim()
  local rec, err = held(ARGV[2], size)
  if err then return nil, err end
  local refused = refusal(rec, opt(ARGV[3]), ARGV[4], opt(ARGV[5]))
  if refused then return nil, {refused, rec} end
  return rec, nil
end
"""
)

# ARGV[1] is always the time; the rest are listed per script.
SCRIPTS = {
    # size
    "ensure": """
if redis.call('EXISTS', meta_key) == 0 then
  redis.call('HSET', meta_key, 'size', ARGV[2], 'next_fresh', 1, 'created_at', num(now))
end
return {'OK'}
""",
    # size
    "create": """
if redis.call('EXISTS', meta_key) == 1 then return {'POOL_EXISTS'} end
redis.call('HSET', meta_key, 'size', ARGV[2], 'next_fresh', 1, 'created_at', num(now))
return stats(tonumber(ARGV[2]))
""",
    # size
    "resize": """
if not pool_size() then return {'POOL_NOT_FOUND'} end
reclaim()
redis.call('HSET', meta_key, 'size', ARGV[2])
return stats(tonumber(ARGV[2]))
""",
    # force ('1' or '0')
    "delete": """
local size = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
reclaim()
local result = stats(size)
if result[3] > 0 and ARGV[2] ~= '1' then return {'POOL_IN_USE', result[3]} end
redis.call('UNLINK', meta_key, free_key, leases_key, held_key, expiry_key, requests_key,
           queue_key, seen_key)
return result
""",
    "stats": """
local size = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
reclaim()
return stats(size)
""",
    # after, first
    "leases": """
if not pool_size() then return {'POOL_NOT_FOUND'} end
reclaim()
local reply = {'OK'}
local first = tonumber(ARGV[3])
if first <= 0 then return reply end
local objs = redis.call('ZRANGEBYSCORE', held_key, '(' .. ARGV[2], '+inf', 'LIMIT', 0, first)
for _, obj in ipairs(objs) do
  reply[#reply + 1] = obj
  reply[#reply + 1] = redis.call('HGET', leases_key, obj)
end
return reply
""",
    # obj
    "lease": """
local size = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
reclaim()
local rec, err = held(ARGV[2], size)
if err and err[1] == 'OUT_OF_RANGE' then return err end
if not rec then return {'OK'} end
return {'OK', ARGV[2], rec}
""",
    # ticket, rk, owner, label, request_id, ttl
    "acquire": """
local size, next_fresh = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
reclaim()
local ticket, rk = ARGV[2], opt(ARGV[3])
if rk then
  local obj = redis.call('HGET', requests_key, rk)
  local rec = obj and redis.call('HGET', leases_key, obj)
  if rec and cjson.decode(rec).rk == rk then
    drop_ticket(ticket)
    return {'OK', obj, rec}
  end
end
local head = live_head()
if head and head ~= ticket then return {'POOL_EXHAUSTED'} end
local obj
if next_fresh <= size then
  obj = int(next_fresh)
  redis.call('HSET', meta_key, 'next_fresh', next_fresh + 1)
else
  obj = first_free(size)
  if not obj then return {'POOL_EXHAUSTED'} end
  redis.call('ZREM', free_key, obj)
end
local lease = {
  token = int(redis.call('HINCRBY', counters_key, 'token', 1)),
  owner = opt(ARGV[4]), label = opt(ARGV[5]), request_id = opt(ARGV[6]), rk = rk,
  acquired_at = num(now),
}
if ARGV[7] ~= '' then
  local expires = now + tonumber(ARGV[7])
  lease.ttl, lease.expires_at = ARGV[7], num(expires)
  redis.call('ZADD', expiry_key, expires, obj)
end
local rec = cjson.encode(lease)
redis.call('HSET', leases_key, obj, rec)
redis.call('ZADD', held_key, obj, obj)
if rk then redis.call('HSET', requests_key, rk, obj) end
drop_ticket(ticket)
return {'OK', obj, rec}
""",
    # obj, principal, is_admin, token
    "free": """
local _, refused = releasable()
if refused then return refused end
release(ARGV[2])
return {'OK'}
""",
    # obj, principal, is_admin, token, ttl
    "renew": """
local rec, refused = releasable()
if refused then return refused end
local obj = ARGV[2]
local lease = cjson.decode(rec)
if ARGV[6] ~= '' then lease.ttl = ARGV[6] end
if lease.ttl then
  local expires = now + tonumber(lease.ttl)
  lease.expires_at = num(expires)
  redis.call('ZADD', expiry_key, expires, obj)
end
rec = cjson.encode(lease)
redis.call('HSET', leases_key, obj, rec)
return {'OK', obj, rec}
""",
    "join": """
if not pool_size() then return {'POOL_NOT_FOUND'} end
-- Waiters dead for long are forgotten here rather than by a sweeper.
local dead = redis.call('ZRANGEBYSCORE', seen_key, '-inf', '(' .. num(now - 10 * LIVENESS))
for _, id in ipairs(dead) do drop_ticket(id) end
local id = redis.call('HINCRBY', counters_key, 'ticket', 1)
redis.call('ZADD', queue_key, id, id)
redis.call('ZADD', seen_key, num(now), id)
return {'OK', id}
""",
    # ticket
    "leave": """
drop_ticket(ARGV[2])
return {'OK'}
""",
    # ticket, rk, heartbeat ('1' or '0'). Writes nothing but the heartbeat.
    "poll": """
local size, next_fresh = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
local ticket, rk = ARGV[2], opt(ARGV[3])
if ARGV[4] == '1' then redis.call('ZADD', seen_key, 'XX', num(now), ticket) end
if rk and redis.call('HEXISTS', requests_key, rk) == 1 then return {'OK', 1} end
local head = live_head()
if head and head ~= ticket then return {'OK', 0} end
if next_fresh <= size then return {'OK', 1} end
if #redis.call('ZRANGEBYSCORE', expiry_key, '-inf', num(now), 'LIMIT', 0, 1) > 0 then
  return {'OK', 1}
end
if first_free(size) then return {'OK', 1} end
return {'OK', 0}
""",
}


def _opt(value: str | None) -> str:
    return "" if value is None else "=" + value


def _caller(caller: Caller) -> tuple[str, str]:
    """Who asks, as the free and renew scripts read it: principal, then admin flag."""
    return _opt(caller.principal), "1" if caller.is_admin else "0"


def _keys(pool: str) -> list[str]:
    tag = f"objmgr:{{pool:{pool}}}"
    return [f"{tag}:{part}" for part in KEY_PARTS]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Call(NamedTuple):
    """One script to run for one caller."""

    script: Script
    keys: list[str]
    args: tuple[str, ...]


class RedisStore(Store):
    poll_interval = 0.025

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
        # No retries: a script whose reply was lost may have run, and running
        # it again could grant a second object. Callers retry with a requestId.
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            redis_connect_func=self._on_connect,
        )
        self._scripts: dict[str, Script] = {
            name: self._redis.register_script(PRELUDE + body) for name, body in SCRIPTS.items()
        }
        self._batcher: Batcher[_Call] = Batcher(self._send)
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
        self._heartbeats: dict[Ticket, float] = {}
        self._heartbeats_lock = threading.Lock()

    # connection ---------------------------------------------------------
    def _on_connect(self, connection: redis.Connection) -> None:
        connection.on_connect()
        self._connects = next(self._connect_count)

    @contextmanager
    def _unavailable_on_error(self) -> Iterator[None]:
        try:
            yield
        except UNAVAILABLE as error:
            # Clients read this message: it names the failure, not the address.
            raise StoreUnavailable(
                f"the Redis store cannot be reached ({type(error).__name__}); retry later"
            ) from error
        except ResponseError as error:
            if str(error).startswith(UNAVAILABLE_REPLIES):
                reply = str(error).split(" ", 1)[0]
                raise StoreUnavailable(
                    f"the Redis store cannot serve now ({reply}); retry later"
                ) from error
            raise

    def _now(self) -> str:
        return "" if self._clock is None else repr(float(self._clock()))

    def _eval(self, name: str, pool: str, *args: str) -> list[Any]:
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

    def _run(self, name: str, pool: str, *args: str) -> list[Any]:
        call = _Call(self._scripts[name], _keys(pool), (self._now(), *args))
        # A script's own error is raised here, in its caller, so it is told
        # apart from unavailability exactly as when each caller sent its own.
        with self._unavailable_on_error():
            reply: list[Any] = self._batcher.submit(call)
        return reply

    def _send(self, batch: Batch[_Call]) -> None:
        """Run a batch's scripts: a lone one as it is, more in one pipeline.

        Whatever fails the round trip (a lost connection, a timeout) fails
        every script of it, and none is sent again: a script whose reply was
        lost may have run.
        """
        jobs = batch.take()
        if len(jobs) == 1:
            call = jobs[0].work
            jobs[0].result = call.script(keys=call.keys, args=call.args)
            return
        missing = self._pipeline(jobs, reload=True)
        if not missing:
            return
        # Redis forgot the scripts (it restarted, or SCRIPT FLUSH). A NOSCRIPT
        # reply means the script did not run, so it may run again; a failure
        # now fails these jobs only, the others have their replies.
        try:
            for script in {job.work.script for job in missing}:
                script.sha = self._redis.script_load(script.script)
            self._pipeline(missing, reload=False)
        except Exception as error:
            for job in missing:
                job.error = error

    def _pipeline(self, jobs: list[Job[_Call]], *, reload: bool) -> list[Job[_Call]]:
        """Send `jobs` in one pipeline and hand each its reply; those answered
        NOSCRIPT when `reload`, left for the caller to send again."""
        # EVALSHA itself, not `script(client=pipe)`: a pipeline holding Script
        # objects asks SCRIPT EXISTS first, a second round trip on every batch.
        with self._redis.pipeline(transaction=False) as pipe:
            for job in jobs:
                call = job.work
                pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
            replies = pipe.execute(raise_on_error=False)
        missing = []
        for job, reply in zip(jobs, replies, strict=True):
            if reload and isinstance(reply, NoScriptError):
                missing.append(job)
            elif isinstance(reply, Exception):
                job.error = reply
            else:
                job.result = reply
        return missing

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
            if self._default_pending or not self._marked():
                self._ensure(*self._default_pool)
                with self._unavailable_on_error():
                    self._redis.set(STORE_MARK, "1")
                self._default_pending = False
            self._connects_checked = connects

    def _marked(self) -> bool:
        with self._unavailable_on_error():
            return bool(self._redis.exists(STORE_MARK))

    def _ensure(self, name: str, size: int) -> None:
        with self._unavailable_on_error():
            self._redis.sadd(POOLS_KEY, name)
        self._run("ensure", name, str(size))
        with self._unavailable_on_error():
            self._redis.sadd(POOLS_KEY, name)

    def close(self) -> None:
        self._redis.close()

    # replies ------------------------------------------------------------
    @staticmethod
    def _raise_for(
        reply: list[Any],
        pool: str,
        obj: int | None = None,
        caller: Caller | None = None,
        token: int | None = None,
    ) -> None:
        code = _text(reply[0])
        if code == "OK":
            return
        if code == "POOL_NOT_FOUND":
            raise pool_not_found(pool)
        if code == "POOL_EXHAUSTED":
            raise exhausted(pool)
        if code == "POOL_EXISTS":
            raise PoolExists(f"pool {pool!r} exists already")
        if code == "POOL_IN_USE":
            raise PoolInUse(
                f"pool {pool!r} has {reply[1]} leases held; delete with force: true to drop them"
            )
        if obj is not None and code == "OUT_OF_RANGE":
            raise out_of_range(pool, obj, int(reply[1]))
        if obj is not None and code == "NOT_ALLOCATED":
            raise not_allocated(pool, obj)
        if obj is not None and caller is not None and code in ("NOT_OWNER", "STALE_TOKEN"):
            # The script refused by this very rule; let it word the refusal.
            check_release(RedisStore._lease(pool, obj, reply[1]), caller, token)
        raise RuntimeError(f"unexpected reply from the Redis store: {reply!r}")

    @staticmethod
    def _lease(pool: str, obj: Any, record: bytes) -> Lease:
        data = json.loads(record)
        expires_at, ttl = data.get("expires_at"), data.get("ttl")
        return Lease(
            pool=pool,
            obj=int(obj),
            token=int(data["token"]),
            owner=data.get("owner"),
            label=data.get("label"),
            acquired_at=float(data["acquired_at"]),
            expires_at=None if expires_at is None else float(expires_at),
            ttl=None if ttl is None else float(ttl),
            request_id=data.get("request_id"),
        )

    @staticmethod
    def _stats(name: str, reply: list[Any]) -> PoolStats:
        _, size, in_use, available, waiting = reply
        return PoolStats(name, int(size), int(in_use), int(available), int(waiting))

    # pools --------------------------------------------------------------
    def ensure_pool(self, name: str, size: int) -> None:
        self._ensure(name, size)

    def create_pool(self, name: str, size: int) -> PoolStats:
        with self._unavailable_on_error():
            self._redis.sadd(POOLS_KEY, name)
        reply = self._eval("create", name, str(size))
        # Again after the script, in case a concurrent delete of this name
        # removed it from the set between the first SADD and the script.
        with self._unavailable_on_error():
            self._redis.sadd(POOLS_KEY, name)
        self._raise_for(reply, name)
        return self._stats(name, reply)

    def resize_pool(self, name: str, size: int) -> PoolStats:
        reply = self._eval("resize", name, str(size))
        self._raise_for(reply, name)
        return self._stats(name, reply)

    def delete_pool(self, name: str, force: bool) -> PoolStats:
        reply = self._eval("delete", name, "1" if force else "0")
        self._raise_for(reply, name)
        meta = _keys(name)[0]
        with self._unavailable_on_error():
            self._redis.srem(POOLS_KEY, name)
            # A create of the same name may have run since our script.
            if self._redis.exists(meta):
                self._redis.sadd(POOLS_KEY, name)
        return self._stats(name, reply)

    def pool(self, name: str) -> PoolStats | None:
        reply = self._eval("stats", name)
        if _text(reply[0]) == "POOL_NOT_FOUND":
            return None
        self._raise_for(reply, name)
        return self._stats(name, reply)

    def pools(self, first: int, after: str) -> list[PoolStats]:
        self._check_default()
        with self._unavailable_on_error():
            names = sorted(_text(name) for name in self._redis.smembers(POOLS_KEY))
        found = (self.pool(name) for name in names if name > after)
        return [stats for stats in found if stats is not None][:first]

    # leases -------------------------------------------------------------
    def leases(self, pool: str, first: int, after: int) -> list[Lease]:
        reply = self._eval("leases", pool, str(after), str(first))
        self._raise_for(reply, pool)
        return [
            self._lease(pool, obj, rec) for obj, rec in zip(reply[1::2], reply[2::2], strict=True)
        ]

    def lease(self, pool: str, obj: int) -> Lease | None:
        reply = self._eval("lease", pool, str(obj))
        self._raise_for(reply, pool, obj)
        return self._lease(pool, reply[1], reply[2]) if len(reply) > 1 else None

    @staticmethod
    def _request_key(request: AcquireRequest) -> str | None:
        if request.request_id is None:
            return None
        return json.dumps([request.owner, request.request_id])

    def acquire(self, request: AcquireRequest, ticket: Ticket | None = None) -> Lease:
        request_key = self._request_key(request)
        if ticket is not None and not self._worth_a_try(ticket, request_key):
            raise exhausted(request.pool)
        reply = self._eval(
            "acquire",
            request.pool,
            "" if ticket is None else str(ticket.id),
            _opt(request_key),
            _opt(request.owner),
            _opt(request.label),
            _opt(request.request_id),
            "" if request.ttl is None else repr(float(request.ttl)),
        )
        self._raise_for(reply, request.pool)
        if ticket is not None:
            self._forget(ticket)
        return self._lease(request.pool, reply[1], reply[2])

    def _worth_a_try(self, ticket: Ticket, request_key: str | None) -> bool:
        """Whether a waiter's next acquire could succeed, asked by a script that
        writes nothing but, now and then, the waiter's heartbeat.

        Waiters poll; this keeps their polls to a few reads and out of the
        append-only file.
        """
        beat = time.monotonic()
        with self._heartbeats_lock:
            due = beat - self._heartbeats.get(ticket, 0.0) >= WAITER_HEARTBEAT
            if due:
                self._heartbeats[ticket] = beat
        reply = self._eval(
            "poll", ticket.pool, str(ticket.id), _opt(request_key), "1" if due else "0"
        )
        self._raise_for(reply, ticket.pool)
        return bool(reply[1])

    def _forget(self, ticket: Ticket) -> None:
        with self._heartbeats_lock:
            self._heartbeats.pop(ticket, None)

    def free(self, pool: str, obj: int, caller: Caller, token: int | None) -> int:
        reply = self._eval(
            "free",
            pool,
            str(obj),
            *_caller(caller),
            _opt(None if token is None else str(token)),
        )
        self._raise_for(reply, pool, obj, caller, token)
        return obj

    def renew(self, pool: str, obj: int, token: int, caller: Caller, ttl: float | None) -> Lease:
        reply = self._eval(
            "renew",
            pool,
            str(obj),
            *_caller(caller),
            _opt(str(token)),
            "" if ttl is None else repr(float(ttl)),
        )
        self._raise_for(reply, pool, obj, caller, token)
        return self._lease(pool, reply[1], reply[2])

    # waiting ------------------------------------------------------------
    def join_queue(self, pool: str) -> Ticket:
        reply = self._eval("join", pool)
        self._raise_for(reply, pool)
        ticket = Ticket(pool, int(reply[1]))
        with self._heartbeats_lock:
            self._heartbeats[ticket] = time.monotonic()
        return ticket

    def leave_queue(self, ticket: Ticket) -> None:
        self._forget(ticket)
        self._raise_for(self._eval("leave", ticket.pool, str(ticket.id)), ticket.pool)

    def wait_for_change(self, ticket: Ticket, timeout: float) -> bool:
        # Expiry is not an event and keyspace notifications are lossy, so
        # waiters poll, cheaply (see `_worth_a_try`).
        time.sleep(max(0.0, min(timeout, self.poll_interval)))
        return True

    # health -------------------------------------------------------------
    def ping(self) -> None:
        with self._unavailable_on_error():
            self._redis.ping()
        self._check_default()
