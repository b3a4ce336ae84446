-- Reads ------------------------------------------------------------------
-- Defined on first use (lazy): only the scripts that read call them.
local reads = lazy(function(reads)
  -- Members of `by_time` (objects, padded or not, scored by a time) scored in
  -- low..high that are within 1..size, where `above` of the `total` are above
  -- the size: counted from whichever side is smaller, at most COUNT_SCAN
  -- entries, exactly when none is above the size (the usual case). `time_of`
  -- gives an object's score from the other side, nil for none.
  local function within_size(by_time, low, high, total, size, above, above_key, time_of)
    if total == 0 then return 0 end
    if above == 0 then return total end
    local count = 0
    if total <= above then
      local objs = redis.call('ZRANGEBYSCORE', by_time, low, high, 'LIMIT', 0, COUNT_SCAN)
      for _, obj in ipairs(objs) do
        if tonumber(obj) <= size then count = count + 1 end
      end
      return count
    end
    local objs = redis.call('ZRANGEBYSCORE', above_key, '(' .. size, '+inf', 'LIMIT', 0, COUNT_SCAN)
    local lo = low == '-inf' and -math.huge or tonumber(string.sub(low, 2))
    local outside = 0
    for _, obj in ipairs(objs) do
      local at = time_of(obj)
      if at and at > lo and at <= tonumber(high) then outside = outside + 1 end
    end
    return total - outside
  end

  local function expiry_of(obj)
    local at = redis.call('ZSCORE', expiry_key, pad(obj)) or redis.call('ZSCORE', expiry_key, obj)
    return at and tonumber(at) or nil
  end

  -- Held objects within 1..size whose lease expired but awaits reclamation.
  local function expired_within(size, pending, above)
    return within_size(expiry_key, '-inf', num(now), pending, size, above, held_key, expiry_of)
  end

  -- rule R13: objects within 1..size cooling now. Those whose cooling ended
  -- and those whose lease expired and awaits reclamation are counted as they
  -- will be once moved.
  local function cooling_within(size, held_above)
    local all = redis.call('ZCARD', K.cool_objs)
    if all == 0 and not cooling_until(0) then return 0 end
    local below = redis.call('ZCOUNT', K.cool_objs, '-inf', size)
    local due = redis.call('ZCOUNT', K.cooling, '-inf', num(now))
    local count = below - within_size(K.cooling, '-inf', num(now), due, size, all - below,
                                      K.cool_objs, ending.cooling_end)
    local delay = cooling_until(0)
    if delay then
      local low = '(' .. num(now - delay)
      local recent = redis.call('ZCOUNT', expiry_key, low, num(now))
      count = count + within_size(expiry_key, low, num(now), recent, size, held_above, held_key,
                                  expiry_of)
    end
    return count
  end

  -- 'OK', size, in use, available, waiting, cooling, the policy's text
  -- (replies.stats_from); available + held within the size + cooling = size.
  function reads.stats(size)
    local held_all = redis.call('ZCARD', held_key)
    local pending = redis.call('ZCOUNT', expiry_key, '-inf', num(now))
    local below = redis.call('ZCOUNT', held_key, '-inf', size)
    local live_below = below - expired_within(size, pending, held_all - below)
    local cooling = cooling_within(size, held_all - below)
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
  function reads.held(obj, size)
    local rec = redis.call('HGET', leases_key, obj)
    if rec and not expired(obj) then return rec, nil end
    local n = tonumber(obj)
    if n < 1 or n > size then return nil, {'OUT_OF_RANGE', size} end
    return nil, {'NOT_ALLOCATED'}
  end

  -- The lease of obj if the caller may free or renew it; else the refusal.
  function reads.releasable(obj, principal, is_admin, token)
    local size = pool_size()
    if not size then return nil, {'POOL_NOT_FOUND'} end
    settle(RECLAIM_BATCH) -- rule R4, rule R13
    local rec, err = reads.held(obj, size)
    if err then return nil, err end
    local refused = refusal(rec, principal, is_admin, token)
    if refused then return nil, {refused, rec} end
    return rec, nil
  end
end)
