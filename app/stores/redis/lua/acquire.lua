-- ticket and session are '' for a caller that does not wait in the queue.
-- Replies 'RETRY' when it stopped at a bound (retired objects set aside,
-- dead waiters dropped) and should run again.
local ticket, session, rk = ARGV[2], ARGV[3], opt(ARGV[4])
local owner, label, request_id, ttl = opt(ARGV[5]), opt(ARGV[6]), opt(ARGV[7]), ARGV[8]
local principal = opt(ARGV[9])
local size, next_fresh = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
reclaim(RECLAIM_BATCH) -- rule R4
-- rule R2: the live lease of (owner, request id) comes back as it is; rule R9:
-- a replay is no change, and writes no event
if rk then
  local obj = redis.call('HGET', requests_key, rk)
  local rec = obj and not expired(obj) and redis.call('HGET', leases_key, obj)
  if rec and cjson.decode(rec).rk == rk then
    if ticket ~= '' and drop_ticket(ticket) then changed() end
    return {'OK', obj, rec}
  end
end
if ticket ~= '' then
  refresh_session(session)
  -- A place taken from a process thought dead (stalled past its session's
  -- life) is given back: its ticket still orders it.
  if not redis.call('ZSCORE', queue_key, ticket) then
    redis.call('ZADD', queue_key, ticket, ticket)
    redis.call('HSET', waiters_key, ticket, session)
    redis.call('HINCRBY', sessions_key, session, 1)
  end
end
-- rule R5: while anyone waits, only the head is granted
local head, unsure = live_head()
-- More dead waiters in front than one script drops: the next run goes on.
if unsure then return {'RETRY'} end
if head and head ~= ticket then return {'POOL_EXHAUSTED'} end
-- rule R1: never used first, ascending, size included; then the longest free
local obj
if next_fresh <= size then
  obj = int(next_fresh)
  redis.call('HSET', meta_key, 'next_fresh', next_fresh + 1)
else
  local more
  obj, more = first_free(size)
  if more then return {'RETRY'} end
  if not obj then return {'POOL_EXHAUSTED'} end
  redis.call('ZREM', free_key, obj)
end
local lease = {
  -- rule R3: the pool's counter, never deleted
  token = int(redis.call('HINCRBY', counters_key, 'token', 1)),
  owner = owner, label = label, request_id = request_id, rk = rk,
  acquired_at = num(now),
}
if ttl ~= '' then
  local expires = now + tonumber(ttl)
  lease.ttl, lease.expires_at = ttl, num(expires)
  redis.call('ZADD', expiry_key, expires, pad(obj))
end
local rec = cjson.encode(lease)
redis.call('HSET', leases_key, obj, rec)
redis.call('ZADD', held_key, obj, obj)
if rk then redis.call('HSET', requests_key, rk, obj) end
record('GRANTED', now, lease_values(obj, lease, principal)) -- rule R9
if ticket ~= '' then
  drop_ticket(ticket)
  -- The next waiter may be served too, if more is free.
  changed()
end
return {'OK', obj, rec}
