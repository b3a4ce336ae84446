-- Indexes kept in the same script as every change (model.py names their keys).

-- rule R15: one owner's leases in object order, and their count for rule R12's
-- maxPerOwner, from one sorted set of members OWNER_LEN .. owner .. pad(obj),
-- all scored 0: a lexical range is one owner's, ascending by object.
local owners = {}
function owners.prefix(owner) return string.format('%04d', #owner) .. owner end
function owners.add(owner, obj)
  if type(owner) == 'string' then
    redis.call('ZADD', K.owners, 0, owners.prefix(owner) .. pad(obj))
  end
end
function owners.remove(owner, obj)
  if type(owner) == 'string' then redis.call('ZREM', K.owners, owners.prefix(owner) .. pad(obj)) end
end
-- The lexical bounds of `owner`'s members above object `after`.
function owners.range(owner, after)
  local prefix = owners.prefix(owner)
  return '(' .. prefix .. pad(after), '[' .. prefix .. '~'
end
function owners.count(owner)
  local low, high = owners.range(owner, 0)
  return redis.call('ZLEXCOUNT', K.owners, low, high)
end
function owners.obj(member) return int(tonumber(string.sub(member, -10))) end

-- rule R10: the runs of consecutive free objects (P:free and P:retired), so a
-- contiguous request finds its run without scanning the pool. Never-used
-- objects are no part of it: they are one run from next_fresh (runs.fresh_run).
-- A run s..e is s in K.runs, scored by s (to find the run holding an
-- object), and e in K.run_ends[s] unless e = s. A run of two or more, which
-- only a contiguous request needs, is also s in K.runs_by_len scored by its
-- length class (its length, capped at CLASS_CAP) * CLASS_SPAN + s, and
-- K.run_min holds each class's lowest start: the lowest run of at least c
-- objects is the first class >= c in K.run_min's start order, at most
-- CLASS_CAP entries. A free or a grant of a lone object costs four commands,
-- and growing a long run one at an end, two.
local runs = lazy(function(runs)
  local CLASS_CAP = MAX_COUNT + 1
  local CLASS_SPAN = 4294967296
  local function run_class(s, e)
    if e == s then return nil end
    return math.min(e - s + 1, CLASS_CAP)
  end

  local function class_add(class, s)
    if not class then return end
    redis.call('ZADD', K.runs_by_len, num(class * CLASS_SPAN + s), int(s))
    redis.call('ZADD', K.run_min, 'LT', s, class)
  end

  local function class_remove(class, s)
    if not class then return end
    redis.call('ZREM', K.runs_by_len, int(s))
    if tonumber(redis.call('ZSCORE', K.run_min, class)) == s then
      local low = class * CLASS_SPAN
      local after = redis.call('ZRANGEBYSCORE', K.runs_by_len, num(low), '(' .. num(low + CLASS_SPAN),
                               'LIMIT', 0, 1)
      if after[1] then
        redis.call('ZADD', K.run_min, after[1], class)
      else
        redis.call('ZREM', K.run_min, class)
      end
    end
  end

  function runs.put(s, e)
    redis.call('ZADD', K.runs, s, int(s))
    if e > s then redis.call('HSET', K.run_ends, int(s), int(e)) end
    class_add(run_class(s, e), s)
  end

  function runs.drop(s, e)
    redis.call('ZREM', K.runs, int(s))
    if e > s then redis.call('HDEL', K.run_ends, int(s)) end
    class_remove(run_class(s, e), s)
  end

  -- The run s..e now ends at e2 (its start stays).
  local function run_end_moved(s, e, e2)
    if e2 > s then redis.call('HSET', K.run_ends, int(s), int(e2)) else
      redis.call('HDEL', K.run_ends, int(s)) end
    local class, class2 = run_class(s, e), run_class(s, e2)
    if class ~= class2 then
      class_remove(class, s)
      class_add(class2, s)
    end
  end

  local function run_end(s)
    local e = redis.call('HGET', K.run_ends, int(s))
    return e and tonumber(e) or s
  end

  -- The run starting at or below x: its start and end (which may be below x).
  function runs.below(x)
    local s = redis.call('ZREVRANGEBYSCORE', K.runs, x, '-inf', 'LIMIT', 0, 1)[1]
    if not s then return nil end
    s = tonumber(s)
    return s, run_end(s)
  end

  -- The run holding x, if one does.
  function runs.find(x)
    local s, e = runs.below(x)
    if s and e >= x then return s, e end
    return nil
  end

  -- x became free: it joins the runs either side. A no-op when it is in one
  -- already, which the upgrade of an older pool relies on.
  function runs.add(x)
    x = tonumber(x)
    local ls, le = runs.below(x)
    if ls and le >= x then return end
    local re
    if redis.call('ZSCORE', K.runs, x + 1) then
      re = run_end(x + 1)
      runs.drop(x + 1, re)
    end
    if ls and le == x - 1 then
      run_end_moved(ls, le, re or x)
    else
      runs.put(x, re or x)
    end
  end

  -- x is no longer free: its run splits around it. A no-op when x is in none.
  function runs.remove(x)
    x = tonumber(x)
    local s, e = runs.find(x)
    if not s then return end
    if s < x then
      run_end_moved(s, e, x - 1)
    else
      runs.drop(s, e)
    end
    if x < e then runs.put(x + 1, e) end
  end

  -- The lowest start of c free objects in a row within 1..size, or nil.
  function runs.lowest(c, size)
    local from = 0
    while from < CLASS_CAP do
      local batch = redis.call('ZRANGE', K.run_min, from, from + 99, 'WITHSCORES')
      if #batch == 0 then return nil end
      for i = 1, #batch, 2 do
        local class, s = tonumber(batch[i]), tonumber(batch[i + 1])
        -- Every later run starts higher still, beyond the size too.
        if s + c - 1 > size then return nil end
        if class >= c then return s end
      end
      from = from + 100
    end
    return nil
  end

  -- rule R10: the lowest start of c available objects in a row that takes in
  -- never-used ones, or nil: from the free run ending at next_fresh - 1 (or
  -- next_fresh), through named objects above it that are free, up to the first
  -- one that is not (held or cooling), and so on, within 1..size. Stops at
  -- FREE_SCAN named objects, finding nothing beyond them.
  function runs.fresh_run(c, size, next_fresh)
    local cur = next_fresh
    local s = next_fresh > 1 and runs.find(next_fresh - 1)
    if s then cur = s end
    local named = redis.call('ZRANGEBYSCORE', K.named, next_fresh, size, 'LIMIT', 0, FREE_SCAN)
    for _, n in ipairs(named) do
      n = tonumber(n)
      if not redis.call('ZSCORE', free_key, n) then
        if n - cur >= c then return cur end
        cur = n + 1
      end
    end
    if #named == FREE_SCAN then return nil end
    if size - cur + 1 >= c then return cur end
    return nil
  end
end)

-- rule R11: objects from next_fresh up are never used but those in K.named,
-- granted by name; the fresh order skips each once (advance_fresh).
local function advance_fresh(next_fresh)
  next_fresh = next_fresh + 1
  if not any_named then return next_fresh end
  while redis.call('ZSCORE', K.named, next_fresh) do
    redis.call('ZREM', K.named, next_fresh)
    next_fresh = next_fresh + 1
  end
  if redis.call('EXISTS', K.named) == 0 then
    any_named = false
    redis.call('HDEL', meta_key, 'named')
  end
  return next_fresh
end
