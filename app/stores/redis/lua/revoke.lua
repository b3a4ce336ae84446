-- Store.revoke, one bounded batch: rule R14 ends the live leases matching the
-- filter (owner, label prefix: '' for none), in object order, at most
-- REVOKE_BATCH, looking at no more than COUNT_SCAN. With objs ("k,k,..."
-- ascending, a chunk the caller sends) only those; else from object `after`
-- up, through the owner's index when an owner is given. Reply: 'OK', the last
-- object looked at ('' when the end was reached), then obj, record pairs of
-- the leases revoked; 'RETRY' while an older pool's indexes are being built.
local principal, reason, owner, prefix = opt(ARGV[2]), opt(ARGV[3]), opt(ARGV[4]), opt(ARGV[5])
local after, objs_arg = ARGV[6], opt(ARGV[7])
if not pool_size() then return {'POOL_NOT_FOUND'} end
settle(RECLAIM_BATCH) -- rule R4, rule R13
local candidates, bounded = {}, objs_arg == nil
if objs_arg then
  for obj in string.gmatch(objs_arg, '[^,]+') do candidates[#candidates + 1] = obj end
elseif owner then
  if not (indexed or occasional.upgrade()) then return {'RETRY'} end
  local low, high = owners.range(owner, tonumber(after))
  for _, member in ipairs(redis.call('ZRANGEBYLEX', K.owners, low, high, 'LIMIT', 0,
                                     COUNT_SCAN)) do
    candidates[#candidates + 1] = owners.obj(member)
  end
else
  candidates = redis.call('ZRANGEBYSCORE', held_key, '(' .. after, '+inf', 'LIMIT', 0, COUNT_SCAN)
end
local function matches(lease)
  if owner and lease.owner ~= owner then return false end
  if prefix then
    return type(lease.label) == 'string' and string.sub(lease.label, 1, #prefix) == prefix
  end
  return true
end
local reply, revoked = {'OK', ''}, 0
-- rule R13: revoked objects cool from now, or are freed now
local cool_end = cooling_until(now)
for i, obj in ipairs(candidates) do
  local rec = redis.call('HGET', leases_key, obj)
  -- rule R4: an expired lease is no longer live, and is reclaimed as EXPIRED
  if rec and not expired(obj) then
    local lease = cjson.decode(rec)
    if matches(lease) then
      ending.release(obj, nil, cool_end)
      local values = lease_values(obj, lease, principal)
      values.reason = reason
      record('REVOKED', now, values) -- rule R9
      reply[#reply + 1] = obj
      reply[#reply + 1] = rec
      revoked = revoked + 1
    end
  end
  if bounded and (revoked == REVOKE_BATCH or i == COUNT_SCAN) then
    reply[2] = obj
    break
  end
end
-- rule R5: objects came back, or a place in the queue may open
if revoked > 0 then changed() end
return reply
