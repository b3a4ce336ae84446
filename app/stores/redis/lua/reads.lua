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

-- rule R13: objects within 1..size cooling now. Those whose cooling ended
-- and those whose lease expired and awaits reclamation are counted as they
-- will be once moved (at most COUNT_SCAN of each looked at).
local function cooling_within(size)
  local count = redis.call('ZCOUNT', K.cool_objs, '-inf', size)
  local due = redis.call('ZRANGEBYSCORE', K.cooling, '-inf', num(now), 'LIMIT', 0, COUNT_SCAN)
  for _, member in ipairs(due) do
    if tonumber(member) <= size then count = count - 1 end
  end
  local delay = cooling_until(0)
  if delay then
    local objs = redis.call('ZRANGEBYSCORE', expiry_key, '(' .. num(now - delay), num(now),
                            'LIMIT', 0, COUNT_SCAN)
    for _, obj in ipairs(objs) do
      if tonumber(obj) <= size then count = count + 1 end
    end
  end
  return count
end

-- 'OK', size, in use, available, waiting, cooling, the policy's text
-- (replies.stats_from); available + held within the size + cooling = size.
local function stats(size)
  local held_all = redis.call('ZCARD', held_key)
  local pending = redis.call('ZCOUNT', expiry_key, '-inf', num(now))
  local below = redis.call('ZCOUNT', held_key, '-inf', size)
  local live_below = below - expired_within(size, pending, held_all - below)
  local cooling = cooling_within(size)
  return {'OK', size, held_all - pending, size - live_below - cooling, waiting(), cooling,
          policy_text}
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
  settle(RECLAIM_BATCH) -- rule R4, rule R13
  local rec, err = held(obj, size)
  if err then return nil, err end
  local refused = refusal(rec, principal, is_admin, token)
  if refused then return nil, {refused, rec} end
  return rec, nil
end
