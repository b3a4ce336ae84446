-- Run again while the reply's last element is 1: retired objects are still
-- going back to the free queue.
local size = tonumber(ARGV[2])
if not pool_size() then return {'POOL_NOT_FOUND'} end
reclaim(RECLAIM_BATCH) -- rule R4
-- rule R6: leases above the size stay; retired objects come back when it grows
redis.call('HSET', meta_key, 'size', int(size))
local more = restore_retired(size)
changed()
local reply = stats(size)
reply[#reply + 1] = more and 1 or 0
return reply
