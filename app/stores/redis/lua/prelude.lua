-- Shared by every pool script, with indexes.lua, freeing.lua, waiters.lua
-- and reads.lua after it (wire.PRELUDE). KEYS are the pool's keys
-- (model.KEY_PARTS order); ARGV[1] is the time, or '' for Redis' own TIME;
-- ARGV[2..] are the script's own, named at its top; the one before the last is
-- the token floor (topology.py: the epoch of this primary, shifted), the last
-- how many events the journal keeps at least. Each script's body runs as `main`, and
-- the script replies {main's reply, the events it wrote} (wire.load_scripts).
local meta_key, counters_key, free_key = KEYS[1], KEYS[2], KEYS[3]
local leases_key, held_key, expiry_key = KEYS[4], KEYS[5], KEYS[6]
local requests_key, queue_key, waiters_key = KEYS[7], KEYS[8], KEYS[9]
local sessions_key, retired_key, events_key = KEYS[10], KEYS[11], KEYS[12]
-- KEYS[13], an older version's key, only delete.lua touches (model.py).
-- The keys of issue 12 in a table: Lua allows a function 60 upvalues.
local K = {cooling = KEYS[14], cool_objs = KEYS[15], named = KEYS[16], owners = KEYS[17],
           runs = KEYS[18], run_ends = KEYS[19], runs_by_len = KEYS[20], run_min = KEYS[21]}
local events_keep = ARGV[#ARGV]
local token_floor = tonumber(ARGV[#ARGV - 1])

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

-- rule R3 across failovers: the first token a primary of a later epoch mints
-- is above any an earlier primary could have minted, replicated or not.
local function reserve_tokens(n)
  if token_floor > 0 and tonumber(redis.call('HGET', counters_key, 'token') or '0') < token_floor then
    redis.call('HSET', counters_key, 'token', ARGV[#ARGV - 1])
  end
  return reserve('token', n)
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

-- rule R12: the pool's policy, read with its size by pool_size(): `policy`
-- decoded (contract field names), `policy_text` as stored ('' for none);
-- `indexed` false for a pool an older version made until upgrade() is done.
-- `any_named` and `any_cooling` say whether K.named and K.cooling may hold
-- anything (P:meta's flags 'named' and 'cools'), so that a pool using neither
-- costs its grants and frees no look at them.
local policy, policy_text, indexed, any_named, any_cooling = {}, '', true, false, false
local function pool_size()
  local row = redis.call('HMGET', meta_key, 'size', 'next_fresh', 'policy', 'v', 'named', 'cools')
  if not row[1] then return nil end
  policy_text, policy = '', {}
  if row[3] and row[3] ~= '' and row[3] ~= '{}' then
    policy_text, policy = row[3], cjson.decode(row[3])
  end
  indexed, any_named, any_cooling = row[4] == '2', row[5] == '1', row[6] == '1'
  return tonumber(row[1]), tonumber(row[2])
end
-- What a new pool's meta holds besides its size: the version of its indexes.
local NEW_POOL = {'next_fresh', 1, 'v', 2}

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

-- A table of functions defined on first use: a script's run creates the
-- closures it calls, not every one the shared parts hold (each costs time
-- on every run, and most scripts call few).
local function lazy(build)
  return setmetatable({}, {__index = function(self, name)
    setmetatable(self, nil)
    build(self)
    return rawget(self, name)
  end})
end
