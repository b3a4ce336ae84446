-- rule R13: policy.py cooling_until.
local function cooling_until(ended_at)
  local delay = tonumber(policy.reuseDelay)
  if not delay or delay <= 0 then return nil end
  return ended_at + delay
end

-- Ending a lease and what follows, defined on first use (lazy): a grant
-- of a never-used object calls none of it.
local ending = lazy(function(ending)
  -- rule R2: an idempotent acquire's request key maps to its objects,
  -- "obj,obj,..." in grant order; a lease ending leaves the others.
  function ending.forget_request(rk, obj)
    if type(rk) ~= 'string' then return end
    local objs = redis.call('HGET', requests_key, rk)
    if not objs then return end
    if objs == obj then
      redis.call('HDEL', requests_key, rk)
      return
    end
    local rest, found = {}, false
    for other in string.gmatch(objs, '[^,]+') do
      if other == obj then found = true else rest[#rest + 1] = other end
    end
    if not found then return end
    if #rest == 0 then
      redis.call('HDEL', requests_key, rk)
    else
      redis.call('HSET', requests_key, rk, table.concat(rest, ','))
    end
  end

  -- rule R13: an object out of circulation until `ends`, in K.cooling by its
  -- end (padded members, so equal ends go in object order) and in K.cool_objs
  -- by object, which counts those within the size.
  function ending.cool(obj, ends)
    redis.call('ZADD', K.cooling, num(ends), pad(obj))
    redis.call('ZADD', K.cool_objs, obj, obj)
    if not any_cooling then
      any_cooling = true
      redis.call('HSET', meta_key, 'cools', 1)
    end
  end
  function ending.uncool(obj)
    redis.call('ZREM', K.cooling, pad(obj))
    redis.call('ZREM', K.cool_objs, obj)
  end
  -- The end of obj's cooling, or nil when it is not cooling.
  function ending.cooling_end(obj)
    if not any_cooling then return nil end
    local ends = redis.call('ZSCORE', K.cooling, pad(obj))
    return ends and tonumber(ends) or nil
  end
  -- A free object joins the free order (rule R1), `free_seq` its place when
  -- reserved already, and the runs (rule R10).
  function ending.to_free(obj, free_seq)
    redis.call('ZADD', free_key, free_seq or reserve('free_seq', 1), obj)
    runs.add(obj)
  end

  -- A lease ends: its object is freed (rule R1) at `free_seq` (nil: the
  -- next; false: the caller frees it), or cools until `cool_end` (rule R13).
  -- Returns the lease it ended (decoded), nil when none was recorded.
  function ending.release(obj, free_seq, cool_end)
    obj = int(obj)
    local rec = redis.call('HGET', leases_key, obj)
    local lease
    if rec then
      lease = cjson.decode(rec)
      ending.forget_request(lease.rk, obj)
      owners.remove(lease.owner, obj)
    end
    redis.call('HDEL', leases_key, obj)
    redis.call('ZREM', held_key, obj)
    redis.call('ZREM', expiry_key, pad(obj), obj)
    if cool_end then
      ending.cool(obj, cool_end)
    elseif free_seq ~= false then
      ending.to_free(obj, free_seq)
    end
    return lease
  end
end)

local function by_time_then_object(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  return a[2] < b[2]
end

-- Scored members of a range as {score, obj}, by score then object (members
-- written before they were padded sort as text, '10' < '9').
local function ordered(key, limit)
  local rows = redis.call('ZRANGEBYSCORE', key, '-inf', num(now), 'WITHSCORES', 'LIMIT', 0, limit)
  local order = {}
  for i = 1, #rows, 2 do order[#order + 1] = {tonumber(rows[i + 1]), tonumber(rows[i])} end
  table.sort(order, by_time_then_object)
  return order
end

-- rule R4: at most `limit` expired leases, the earliest expiry first (ties by
-- object), each an EXPIRED event at its expiry; rule R13: with a reuseDelay
-- they cool from their expiry, and at most `limit` objects whose cooling
-- ended come back. What comes back joins the free order as freed at its
-- expiry or cooling's end, in that order (rule R1), whichever it came from.
-- Before a change reads or grants. Returns how many it moved.
local function settle(limit)
  local expired_now = ordered(expiry_key, limit)
  local due = any_cooling and ordered(K.cooling, limit) or {}
  if #expired_now == 0 and #due == 0 then return 0 end
  local joining, ended = {}, {}
  for _, item in ipairs(due) do
    local obj = int(item[2])
    ending.uncool(obj)
    joining[#joining + 1] = {item[1], item[2]}
  end
  for _, item in ipairs(expired_now) do
    local obj = int(item[2])
    local ends = cooling_until(item[1])
    local cools = ends and ends > now
    local lease = ending.release(obj, false, cools and ends or nil)
    if not cools then joining[#joining + 1] = {ends or item[1], item[2]} end
    if lease then ended[#ended + 1] = {obj, item[1], lease} end
  end
  if #joining > 0 then
    table.sort(joining, by_time_then_object)
    -- The batch's places in the free queue taken at once: one write, not one an object.
    local free_seq = reserve('free_seq', #joining)
    for i, item in ipairs(joining) do ending.to_free(int(item[2]), free_seq + i - 1) end
  end
  if #ended > 0 then
    local seq = reserve('event_seq', #ended)
    for i, gone in ipairs(ended) do
      -- rule R9: EXPIRED at the lease's expiry, by nobody
      record('EXPIRED', gone[2], lease_values(gone[1], gone[3], nil), seq + i - 1)
    end
  end
  if #due > 0 and redis.call('EXISTS', K.cooling) == 0 then
    any_cooling = false
    redis.call('HDEL', meta_key, 'cools')
  end
  changed()
  return #expired_now + #due
end

-- What few scripts call: defined on first use (lazy).
local occasional = lazy(function(occasional)
  -- rule R6: retired objects within the size go back to the free queue in the
  -- place they were freed, at most FREE_SCAN per script; true when some are left.
  function occasional.restore_retired(size)
    local back = redis.call('ZRANGEBYSCORE', retired_key, '-inf', size, 'LIMIT', 0, FREE_SCAN)
    for _, member in ipairs(back) do
      local sep = string.find(member, ':', 1, true)
      redis.call('ZADD', free_key, string.sub(member, sep + 1), string.sub(member, 1, sep - 1))
      redis.call('ZREM', retired_key, member)
    end
    if #back > 0 then changed() end
    return #back == FREE_SCAN
  end

  -- Granting takes an object out of what is available. A free one leaves the
  -- free order and its run; one above the size waiting in P:retired for a
  -- growing resize to put it back leaves P:retired.
  function occasional.take_free(obj)
    if redis.call('ZREM', free_key, obj) == 0 then
      local member = redis.call('ZRANGEBYSCORE', retired_key, obj, obj, 'LIMIT', 0, 1)[1]
      if member then redis.call('ZREM', retired_key, member) end
    end
    runs.remove(obj)
  end

  -- A named object (rule R11) or one of a contiguous run (rule R10), free or
  -- never used: returns next_fresh after it.
  function occasional.take(obj, next_fresh)
    local n = tonumber(obj)
    if n == next_fresh then return advance_fresh(next_fresh) end
    if n > next_fresh and not redis.call('ZSCORE', K.named, n)
        and not redis.call('ZSCORE', free_key, n) then
      -- rule R11: a fresh object above next_fresh, skipped once the fresh order reaches it
      redis.call('ZADD', K.named, n, n)
      if not any_named then
        any_named = true
        redis.call('HSET', meta_key, 'named', 1)
      end
      return next_fresh
    end
    if ending.cooling_end(n) then ending.uncool(n) end
    occasional.take_free(obj)
    return next_fresh
  end

  -- A pool an older version made has neither the owners' index (rule R15) nor
  -- the runs (rule R10): scripts that need them, and every read of the pool's
  -- stats, build them COUNT_SCAN entries per script (its held leases, then P:free, then P:retired, each from a
  -- cursor in P:meta), while every change keeps them for what it touches.
  -- True once they are whole: the pool is then marked v 2, as a new one is.
  local UPGRADE_PHASES = {held = 'free', free = 'retired', retired = nil}
  function occasional.upgrade()
    if indexed then return true end
    local row = redis.call('HMGET', meta_key, 'up', 'up_at')
    local phase, at = row[1] or 'held', row[2] or ''
    local budget = COUNT_SCAN
    while budget > 0 do
      local key = (phase == 'held' and held_key) or (phase == 'free' and free_key) or retired_key
      local low = at == '' and '-inf' or '(' .. at
      local batch = redis.call('ZRANGEBYSCORE', key, low, '+inf', 'WITHSCORES', 'LIMIT', 0, budget)
      for i = 1, #batch, 2 do
        local member = batch[i]
        if phase == 'held' then
          local rec = redis.call('HGET', leases_key, member)
          if rec then owners.add(cjson.decode(rec).owner, member) end
        else
          runs.add(tonumber(string.match(member, '^%d+')))
        end
        at = batch[i + 1]
      end
      local seen = #batch / 2
      if seen < budget then
        phase, at = UPGRADE_PHASES[phase], ''
        if not phase then
          redis.call('HSET', meta_key, 'v', 2)
          redis.call('HDEL', meta_key, 'up', 'up_at')
          indexed = true
          return true
        end
      end
      budget = budget - seen
    end
    redis.call('HSET', meta_key, 'up', phase, 'up_at', at)
    return false
  end
end)
