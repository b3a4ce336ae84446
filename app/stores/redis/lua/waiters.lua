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
