-- Live leases of objects above `after`, at most `first`, only `owner`'s when
-- given ('' for all), looking at no more than first + COUNT_SCAN held
-- objects. Reply: 'OK', the last object looked at ('' when the end was
-- reached), then obj, record pairs; 'RETRY' while an older pool's owners'
-- index is being built.
local after, first, owner = ARGV[2], tonumber(ARGV[3]), opt(ARGV[4])
if not pool_size() then return {'POOL_NOT_FOUND'} end
settle(RECLAIM_BATCH) -- rule R4, rule R13
local reply = {'OK', ''}
if first <= 0 then return reply end
local objs
if owner then
  -- rule R15: the owner's index, O(page)
  if not (indexed or occasional.upgrade()) then return {'RETRY'} end
  local low, high = owners.range(owner, tonumber(after))
  objs = redis.call('ZRANGEBYLEX', K.owners, low, high, 'LIMIT', 0, first + COUNT_SCAN)
  for i, member in ipairs(objs) do objs[i] = owners.obj(member) end
else
  objs = redis.call('ZRANGEBYSCORE', held_key, '(' .. after, '+inf', 'LIMIT', 0,
                    first + COUNT_SCAN)
end
local found = 0
for _, obj in ipairs(objs) do
  if not expired(obj) then -- rule R4
    reply[#reply + 1] = obj
    reply[#reply + 1] = redis.call('HGET', leases_key, obj)
    found = found + 1
    if found == first then
      return reply
    end
  end
end
if #objs == first + COUNT_SCAN then reply[2] = objs[#objs] end
return reply
