-- Store.grant: `count` objects, or the one named, all or nothing.
-- ticket and session are '' for a caller that does not wait in the queue;
-- count is 1 or more, contiguous '1' or '0', named '' or '=' .. k.
-- Replies 'OK', 1 for a replay (rule R2) else 0, then obj, record pairs in
-- grant order (tokens increasing); 'RETRY' when it stopped at a bound (retired
-- objects set aside, dead waiters dropped, an older pool's indexes built) and
-- should run again; or a refusal: POOL_NOT_FOUND, TTL_ABOVE_MAX and the
-- policy's text, COUNT_ABOVE_SIZE and the size, OUT_OF_RANGE and the size,
-- QUOTA_EXCEEDED and the limit, POOL_EXHAUSTED, OBJECT_HELD, OBJECT_COOLING.
local ticket, session, rk = ARGV[2], ARGV[3], opt(ARGV[4])
local owner, label, request_id, ttl = opt(ARGV[5]), opt(ARGV[6]), opt(ARGV[7]), ARGV[8]
local principal, count = opt(ARGV[9]), tonumber(ARGV[10])
local contiguous, named = ARGV[11] == '1' and count > 1, opt(ARGV[12])
local size, next_fresh = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
-- rule R12: policy.py grant_ttl
local max_ttl = tonumber(policy.maxTtl)
if ttl ~= '' then
  if max_ttl and tonumber(ttl) > max_ttl then return {'TTL_ABOVE_MAX', policy_text} end
elseif policy.defaultTtl or max_ttl then
  ttl = num(tonumber(policy.defaultTtl) or max_ttl)
end
-- rule R10: more than the pool holds can never be granted
if count > size then return {'COUNT_ABOVE_SIZE', size} end
-- rule R11
if named and (tonumber(named) < 1 or tonumber(named) > size) then return {'OUT_OF_RANGE', size} end
settle(math.max(RECLAIM_BATCH, count)) -- rule R4, rule R13
-- rule R2 (and R10 for a set): the live leases of (owner, request id) come
-- back as they are, in token order; rule R9: a replay writes no event
if rk then
  local objs = redis.call('HGET', requests_key, rk)
  local live = {}
  for obj in string.gmatch(objs or '', '[^,]+') do
    local rec = not expired(obj) and redis.call('HGET', leases_key, obj)
    if rec then
      local lease = cjson.decode(rec)
      if lease.rk == rk then live[#live + 1] = {tonumber(lease.token), obj, rec} end
    end
  end
  if #live > 0 then
    table.sort(live, function(a, b) return a[1] < b[1] end)
    local reply = {'OK', 1}
    for _, found in ipairs(live) do
      reply[#reply + 1] = found[2]
      reply[#reply + 1] = found[3]
    end
    if ticket ~= '' and drop_ticket(ticket) then changed() end
    return reply
  end
end
-- rule R12: maxPerOwner, counted in this step, before the queue
local limit = tonumber(policy.maxPerOwner)
if limit and owner then
  if not (indexed or occasional.upgrade()) then return {'RETRY'} end
  local owned = owners.count(owner)
  if owned + count > limit and redis.call('ZCOUNT', expiry_key, '-inf', num(now)) > 0 then
    -- rule R4: the owner's expired leases awaiting reclamation are not held
    local low, high = owners.range(owner, 0)
    for _, member in ipairs(redis.call('ZRANGEBYLEX', K.owners, low, high, 'LIMIT', 0,
                                       COUNT_SCAN)) do
      if expired(owners.obj(member)) then owned = owned - 1 end
    end
  end
  if owned + count > limit then return {'QUOTA_EXCEEDED', limit} end
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
-- picks: {obj, how} in grant order, how 'fresh', 'free' or 'any' (take)
local picks = {}
if named then
  -- rule R11: exactly this object, fresh or freed
  if redis.call('HEXISTS', leases_key, named) == 1 then
    if not expired(named) then return {'OBJECT_HELD'} end
    -- rule R4: its lease expired; reclaimed now, out of turn, as it is asked for
    local at = tonumber(redis.call('ZSCORE', expiry_key, pad(named))
                        or redis.call('ZSCORE', expiry_key, named))
    local lease = ending.release(named, nil, cooling_until(at))
    record('EXPIRED', at, lease_values(named, lease, nil)) -- rule R9
  end
  local ends = ending.cooling_end(named)
  if ends and ends > now then return {'OBJECT_COOLING'} end -- rule R13
  picks[1] = {named, 'any'}
elseif contiguous then
  -- rule R10: k..k+count-1 for the lowest k, from the runs, never a scan
  if not (indexed or occasional.upgrade()) then return {'RETRY'} end
  local k = runs.lowest(count, size)
  local from_fresh = runs.fresh_run(count, size, next_fresh)
  if from_fresh and (not k or from_fresh < k) then k = from_fresh end
  if not k then return {'POOL_EXHAUSTED'} end
  for obj = k, k + count - 1 do
    -- The runs and the fresh order say these are available; a bug would grant twice.
    if redis.call('HEXISTS', leases_key, obj) == 1 or ending.cooling_end(obj) then
      return redis.error_reply('objmgr: the runs of pool ' .. pool_name .. ' hold ' .. obj)
    end
    picks[#picks + 1] = {int(obj), 'any'}
  end
elseif count == 1 and next_fresh <= size and policy.reuseFirst ~= true then
  -- rule R1: the lowest never-used object, the usual single grant
  picks[1] = {int(next_fresh), 'fresh'}
else
  -- rule R10: what count single acquires in a row would take: rule R1's
  -- never-used objects ascending, then the longest free; rule R13's
  -- reuseFirst the other way round
  local function fresh()
    local obj = next_fresh
    while #picks < count and obj <= size do
      -- next_fresh itself is never named (advance_fresh)
      if obj == next_fresh or not (any_named and redis.call('ZSCORE', K.named, obj)) then
        picks[#picks + 1] = {int(obj), 'fresh'}
      end
      obj = obj + 1
    end
  end
  -- rule R1: the longest-free objects within the size; rule R6: those above
  -- it met on the way are set aside, at most FREE_SCAN (true: run again)
  local function freed()
    local rank, moved = 0, 0
    while #picks < count do
      local batch = redis.call('ZRANGE', free_key, rank, rank + count - #picks - 1, 'WITHSCORES')
      if #batch == 0 then return false end
      for i = 1, #batch, 2 do
        local obj = batch[i]
        if tonumber(obj) <= size then
          picks[#picks + 1] = {obj, 'free'}
          rank = rank + 1
        else
          redis.call('ZREM', free_key, obj)
          redis.call('ZADD', retired_key, obj, obj .. ':' .. batch[i + 1])
          moved = moved + 1
          if moved == FREE_SCAN then return true end
        end
      end
    end
    return false
  end
  local more
  if policy.reuseFirst == true then
    more = freed()
    fresh()
  else
    fresh()
    more = freed()
  end
  if more then return {'RETRY'} end
  if #picks < count then return {'POOL_EXHAUSTED'} end
end
-- rule R3: the pool's counter, never deleted; one increasing token a lease
local token = reserve_tokens(count)
local seq = reserve('event_seq', count)
local expires = ttl ~= '' and now + tonumber(ttl)
local reply, objs, first_fresh = {'OK', 0}, {}, next_fresh
for i, pick in ipairs(picks) do
  local obj, how = pick[1], pick[2]
  if how == 'fresh' then
    next_fresh = advance_fresh(next_fresh)
  elseif how == 'free' then
    occasional.take_free(obj)
  else
    next_fresh = occasional.take(obj, next_fresh)
  end
  local lease = {
    token = int(token + i - 1),
    owner = owner, label = label, request_id = request_id, rk = rk,
    acquired_at = num(now),
  }
  if expires then
    lease.ttl, lease.expires_at = ttl, num(expires)
    redis.call('ZADD', expiry_key, expires, pad(obj))
  end
  local rec = cjson.encode(lease)
  redis.call('HSET', leases_key, obj, rec)
  redis.call('ZADD', held_key, obj, obj)
  owners.add(owner, obj)
  record('GRANTED', now, lease_values(obj, lease, principal), seq + i - 1) -- rule R9
  reply[#reply + 1] = obj
  reply[#reply + 1] = rec
  objs[#objs + 1] = obj
end
if next_fresh ~= first_fresh then redis.call('HSET', meta_key, 'next_fresh', next_fresh) end
if rk then redis.call('HSET', requests_key, rk, table.concat(objs, ',')) end
if ticket ~= '' then
  drop_ticket(ticket)
  -- The next waiter may be served too, if more is free.
  changed()
end
return reply
