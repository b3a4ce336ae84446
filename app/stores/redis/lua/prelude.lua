-- Shared by every pool script. KEYS are the pool's keys (model.KEY_PARTS
-- order); ARGV[1] is the time, or '' for Redis' own TIME; ARGV[2..] are the
-- script's own, named at its top; the last ARGV is how many events the
-- journal keeps at least. Each script's body runs as `main`, and the script
-- replies {main's reply, the events it wrote} (wire.load_scripts).
local meta_key, counters_key, free_key = KEYS[1], KEYS[2], KEYS[3]
local leases_key, held_key, expiry_key = KEYS[4], KEYS[5], KEYS[6]
local requests_key, queue_key, waiters_key = KEYS[7], KEYS[8], KEYS[9]
local sessions_key, retired_key, events_key = KEYS[10], KEYS[11], KEYS[12]
-- KEYS[13], an older version's key, only delete.lua touches (model.py).
local events_keep = ARGV[#ARGV]

-- 'objmgr:{pool:NAME}:meta' -> 'objmgr:{pool:NAME}:' and NAME.
local pool_prefix = string.sub(meta_key, 1, -5)
local pool_name = string.sub(meta_key, 14, -7)

local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end

local function num(x) return string.format('%.17g', x) end
local function int(x) return string.format('%d', x) end
-- Expiry members are zero-padded, so that equal expiries sort by object.
local function pad(obj) return string.format('%010d', tonumber(obj)) end
-- Optional strings travel as '' (none) or '=' .. value.
local function opt(s) if s == '' then return nil end return string.sub(s, 2) end

-- The first of n consecutive values of counter `field`: one write for a batch.
local function reserve(field, n)
  return redis.call('HINCRBY', counters_key, field, n) - n + 1
end

-- rule R9: the journal. Each event is a stream entry whose id is its seq,
-- from a counter in counters_key, which is never deleted (as the token's,
-- rule R3); XADD's MAXLEN ~ trims whole nodes, a bounded step that keeps at
-- least events_keep. `written` is what this script wrote, for the reply.
-- `seq` is one reserved already, or nil to take the next.
local written = {}
local EVENT_FIELDS = {'obj', 'token', 'owner', 'label', 'principal', 'reason', 'size',
                      'expires_at'}
local function record(kind, at, values, seq)
  local entry = {'kind', kind, 'at', num(at)}
  for _, name in ipairs(EVENT_FIELDS) do
    local value = values[name]
    if value ~= nil and value ~= cjson.null then
      entry[#entry + 1] = name
      -- Strings in the reply as in the stream: a number would come back cut to an integer.
      entry[#entry + 1] = type(value) == 'number' and num(value) or value
    end
  end
  seq = seq or reserve('event_seq', 1)
  local id = redis.call('XADD', events_key, 'MAXLEN', '~', events_keep, int(seq) .. '-0',
                        unpack(entry))
  written[#written + 1] = {id, entry}
end

-- A lease event's values, from the lease's record (decoded).
local function lease_values(obj, lease, principal)
  return {obj = obj, token = lease.token, owner = lease.owner, label = lease.label,
          principal = principal}
end

local function pool_size()
  local row = redis.call('HMGET', meta_key, 'size', 'next_fresh')
  if not row[1] then return nil end
  return tonumber(row[1]), tonumber(row[2])
end

-- Other processes' waiters hear of a change that may let the head be served.
local notified = false
local function changed()
  if not notified and redis.call('ZCARD', queue_key) > 0 then
    redis.call('PUBLISH', CHANNEL, pool_name)
    notified = true
  end
end

local function expired(obj)
  local at = redis.call('ZSCORE', expiry_key, pad(obj)) or redis.call('ZSCORE', expiry_key, obj)
  return at ~= false and at ~= nil and tonumber(at) <= now
end

-- rule R1: a freed (or reclaimed) object queues behind every earlier one;
-- `free_seq` is its place when reserved already. Returns the lease it ended
-- (decoded), nil when none was recorded.
local function release(obj, free_seq)
  local rec = redis.call('HGET', leases_key, obj)
  local lease
  if rec then
    lease = cjson.decode(rec)
    local rk = lease.rk
    if rk and redis.call('HGET', requests_key, rk) == obj then
      redis.call('HDEL', requests_key, rk)
    end
  end
  redis.call('HDEL', leases_key, obj)
  redis.call('ZREM', held_key, obj)
  redis.call('ZREM', expiry_key, pad(obj), obj)
  redis.call('ZADD', free_key, free_seq or reserve('free_seq', 1), obj)
  return lease
end

-- rule R4: at most `limit` expired leases, the earliest expiry first (ties
-- by object, rule R1).
local function reclaim(limit)
  local expired_now = redis.call('ZRANGEBYSCORE', expiry_key, '-inf', num(now), 'WITHSCORES',
                                 'LIMIT', 0, limit)
  if #expired_now == 0 then return 0 end
  local order = {}
  for i = 1, #expired_now, 2 do
    order[#order + 1] = {tonumber(expired_now[i + 1]), tonumber(expired_now[i])}
  end
  -- Members written before they were padded sort as text ('10' < '9').
  table.sort(order, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  -- The batch's places in the free queue and seqs taken at once: two writes, not two a lease.
  local free_seq = reserve('free_seq', #order)
  local ended = {}
  for i, item in ipairs(order) do
    local obj = int(item[2])
    local lease = release(obj, free_seq + i - 1)
    if lease then ended[#ended + 1] = {obj, item[1], lease} end
  end
  if #ended > 0 then
    local seq = reserve('event_seq', #ended)
    for i, gone in ipairs(ended) do
      -- rule R9: EXPIRED at the lease's expiry, by nobody
      record('EXPIRED', gone[2], lease_values(gone[1], gone[3], nil), seq + i - 1)
    end
  end
  changed()
  return #order
end

-- rule R1: the longest-free object within the size. rule R6: retired objects (above the size
-- after a shrink) met on the way move to the retired set, scored by object,
-- at most FREE_SCAN of them per script; second result true when it stopped
-- there before finding out (the caller runs again).
local function first_free(size)
  local moved = 0
  while moved < FREE_SCAN do
    local batch = redis.call('ZRANGE', free_key, 0, FREE_SCAN - moved - 1, 'WITHSCORES')
    if #batch == 0 then return nil, false end
    for i = 1, #batch, 2 do
      local obj = batch[i]
      if tonumber(obj) <= size then return obj, false end
      redis.call('ZREM', free_key, obj)
      redis.call('ZADD', retired_key, obj, obj .. ':' .. batch[i + 1])
      moved = moved + 1
    end
  end
  return nil, true
end

-- rule R6: retired objects within the size go back to the free queue in the
-- place they were freed, at most FREE_SCAN per script; true when some are left.
local function restore_retired(size)
  local back = redis.call('ZRANGEBYSCORE', retired_key, '-inf', size, 'LIMIT', 0, FREE_SCAN)
  for _, member in ipairs(back) do
    local sep = string.find(member, ':', 1, true)
    redis.call('ZADD', free_key, string.sub(member, sep + 1), string.sub(member, 1, sep - 1))
    redis.call('ZREM', retired_key, member)
  end
  if #back > 0 then changed() end
  return #back == FREE_SCAN
end

-- Waiters ---------------------------------------------------------------
local alive_cache = {}
local function alive(sid)
  local known = alive_cache[sid]
  if known == nil then
    known = redis.call('EXISTS', pool_prefix .. 'session:' .. sid) == 1
    alive_cache[sid] = known
  end
  return known
end

local function drop_ticket(ticket)
  local sid = redis.call('HGET', waiters_key, ticket)
  local gone = redis.call('ZREM', queue_key, ticket) == 1
  if sid then
    redis.call('HDEL', waiters_key, ticket)
    if redis.call('HINCRBY', sessions_key, sid, -1) <= 0 then
      redis.call('HDEL', sessions_key, sid)
    end
  end
  return gone
end

-- rule R5: the oldest live waiter's ticket, dropping at most DEAD_BATCH dead
-- ones in front of it; second result true when it gave up before finding out.
local function live_head()
  local dropped = 0
  while dropped < DEAD_BATCH do
    local ids = redis.call('ZRANGE', queue_key, 0, DEAD_BATCH - dropped - 1)
    if #ids == 0 then return nil, false end
    for _, id in ipairs(ids) do
      local sid = redis.call('HGET', waiters_key, id)
      if sid and alive(sid) then return id, false end
      drop_ticket(id)
      dropped = dropped + 1
    end
  end
  return nil, true
end

local function waiting()
  local count = 0
  local rows = redis.call('HGETALL', sessions_key)
  for i = 1, #rows, 2 do
    if alive(rows[i]) then count = count + tonumber(rows[i + 1]) end
  end
  return count
end

local function refresh_session(sid)
  redis.call('SET', pool_prefix .. 'session:' .. sid, '1', 'PX', SESSION_TTL_MS)
end

-- Reads ------------------------------------------------------------------
-- Held objects within 1..size whose lease expired but awaits reclamation,
-- counted from whichever side is smaller, at most COUNT_SCAN entries.
local function expired_within(size, pending, above)
  if pending == 0 then return 0 end
  if above == 0 then return pending end
  local count = 0
  if pending <= above then
    local objs = redis.call('ZRANGEBYSCORE', expiry_key, '-inf', num(now), 'LIMIT', 0, COUNT_SCAN)
    for _, obj in ipairs(objs) do
      if tonumber(obj) <= size then count = count + 1 end
    end
    return count
  end
  local objs = redis.call('ZRANGEBYSCORE', held_key, '(' .. size, '+inf', 'LIMIT', 0, COUNT_SCAN)
  local above_expired = 0
  for _, obj in ipairs(objs) do
    if expired(obj) then above_expired = above_expired + 1 end
  end
  return pending - above_expired
end

local function stats(size)
  local held_all = redis.call('ZCARD', held_key)
  local pending = redis.call('ZCOUNT', expiry_key, '-inf', num(now))
  local below = redis.call('ZCOUNT', held_key, '-inf', size)
  local live_below = below - expired_within(size, pending, held_all - below)
  return {'OK', size, held_all - pending, size - live_below, waiting()}
end

-- rule R8 (app/pool/lease.py check_release): owner before token.
local function refusal(rec, principal, is_admin, token)
  local lease = cjson.decode(rec)
  if is_admin ~= '1' and lease.owner ~= principal then return 'NOT_OWNER' end
  if token and token ~= lease.token then return 'STALE_TOKEN' end
  return nil
end

-- The live lease of obj, or the refusal for an object nobody holds: rule R4
-- leaves an expired lease out, rule R8 orders the refusals.
local function held(obj, size)
  local rec = redis.call('HGET', leases_key, obj)
  if rec and not expired(obj) then return rec, nil end
  local n = tonumber(obj)
  if n < 1 or n > size then return nil, {'OUT_OF_RANGE', size} end
  return nil, {'NOT_ALLOCATED'}
end

-- The lease of obj if the caller may free or renew it; else the refusal.
local function releasable(obj, principal, is_admin, token)
  local size = pool_size()
  if not size then return nil, {'POOL_NOT_FOUND'} end
  reclaim(RECLAIM_BATCH) -- rule R4
  local rec, err = held(obj, size)
  if err then return nil, err end
  local refused = refusal(rec, principal, is_admin, token)
  if refused then return nil, {refused, rec} end
  return rec, nil
end
