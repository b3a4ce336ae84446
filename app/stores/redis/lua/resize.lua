-- Run again while the reply's last element is 1: retired objects are still
-- going back to the free queue. `first` is '1' for the first run only.
local size, principal, first = tonumber(ARGV[2]), opt(ARGV[3]), ARGV[4] == '1'
if not pool_size() then return {'POOL_NOT_FOUND'} end
settle(RECLAIM_BATCH) -- rule R4, rule R13
-- rule R6: leases above the size stay; retired objects come back when it grows
redis.call('HSET', meta_key, 'size', int(size))
-- rule R9: one event for the resize, however many runs it takes
if first then record('POOL_RESIZED', now, {principal = principal, size = int(size)}) end
local more = occasional.restore_retired(size)
changed()
local reply = reads.stats(size)
reply[#reply + 1] = more and 1 or 0
return reply
