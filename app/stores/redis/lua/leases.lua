-- Live leases of objects above `after`, at most `first`, looking at no more
-- than first + COUNT_SCAN held objects. Reply: 'OK', the last object looked
-- at ('' when the end was reached), then obj, record pairs.
local after, first = ARGV[2], tonumber(ARGV[3])
if not pool_size() then return {'POOL_NOT_FOUND'} end
reclaim(RECLAIM_BATCH) -- rule R4
local reply = {'OK', ''}
if first <= 0 then return reply end
local objs = redis.call('ZRANGEBYSCORE', held_key, '(' .. after, '+inf', 'LIMIT', 0,
                        first + COUNT_SCAN)
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
