"""Many leases written straight into a store's tables or keys, as its acquire would leave them.

How a test or a benchmark gets a hundred thousand or a million leases in seconds,
not hours. The SQLite fill follows app/stores/sqlite/schema.py, the Redis one the
model of app/stores/redis/model.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import redis

from app.stores.redis.model import pool_keys

REDIS_CHUNK = 50_000  # objects per script call: each call blocks Redis while it runs


def fill_sqlite_leases(
    path: Path,
    pool: str,
    count: int,
    now: float,
    expires_in: float | None = None,
    ttl: float | None = None,
    stagger: float = 0.0,
) -> None:
    """Leases of objects 1..`count` of `pool` (which holds none yet), in one transaction.

    Acquired at `now`; without `expires_in` they never expire, with it object i
    expires at `now + expires_in + (count - i) * stagger` (so with a stagger object
    `count` expires first, object 1 last). Tokens are the objects' numbers.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
            "INSERT INTO leases (pool, obj, token, acquired_at, expires_at, ttl) "
            "SELECT :pool, i, i, :now, :now + :expires_in + (:count - i) * :stagger, :ttl FROM n",
            {
                "pool": pool,
                "count": count,
                "now": now,
                "expires_in": expires_in,
                "stagger": stagger,
                "ttl": ttl,
            },
        )
        conn.execute(
            "UPDATE pools SET next_fresh = :next, held = held + :count WHERE name = :pool",
            {"next": count + 1, "count": count, "pool": pool},
        )
        conn.execute("INSERT INTO fencing (pool, last_token) VALUES (?, ?)", (pool, count))
        conn.execute(
            "INSERT INTO expiries (pool, second, leases) SELECT pool, CAST(expires_at AS INTEGER), "
            "count(*) FROM leases WHERE pool = ? AND expires_at IS NOT NULL GROUP BY 1, 2",
            (pool,),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


# Leases of objects ARGV[1]..ARGV[2] with a TTL of ARGV[3] seconds ('' for none), expiring
# at ARGV[4] ('' for acquired-at + ttl), acquired at ARGV[5] ('' for Redis' TIME now).
MAKE_LEASES = """
local first, last, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local acquired_at = ARGV[5]
if acquired_at == '' then
  local t = redis.call('TIME')
  acquired_at = string.format('%.17g', tonumber(t[1]) + tonumber(t[2]) / 1000000)
end
local expires = ARGV[4]
if expires == '' and ttl ~= '' then
  expires = string.format('%.17g', tonumber(acquired_at) + tonumber(ttl))
end
for obj = first, last do
  local lease = {token = tostring(obj), acquired_at = acquired_at}
  if ttl ~= '' then
    lease.ttl, lease.expires_at = ttl, expires
    redis.call('ZADD', KEYS[6], expires, string.format('%010d', obj))
  end
  redis.call('HSET', KEYS[4], obj, cjson.encode(lease))
  redis.call('ZADD', KEYS[5], obj, obj)
end
redis.call('HSET', KEYS[1], 'next_fresh', last + 1)
redis.call('HSET', KEYS[2], 'token', last)
return last
"""


def fill_redis_leases(
    client: redis.Redis,
    pool: str,
    count: int,
    ttl: float | None = None,
    expires_at: float | None = None,
    acquired_at: float | None = None,
) -> None:
    """Leases of objects 1..`count` of `pool` (which holds none yet), tokens their numbers.

    Without `ttl` they never expire; with it they expire at `expires_at`, by default
    `ttl` seconds after `acquired_at`, by default Redis' own clock now.
    """
    keys = pool_keys(pool)
    ttl_arg = "" if ttl is None else repr(ttl)
    expires_arg = "" if expires_at is None else repr(expires_at)
    acquired_arg = "" if acquired_at is None else repr(acquired_at)
    for first in range(1, count + 1, REDIS_CHUNK):
        last = min(count, first + REDIS_CHUNK - 1)
        client.eval(MAKE_LEASES, len(keys), *keys, first, last, ttl_arg, expires_arg, acquired_arg)
