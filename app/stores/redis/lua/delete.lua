local force = ARGV[2] == '1'
local size = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
reclaim(RECLAIM_BATCH)
local result = stats(size)
if result[3] > 0 and not force then return {'POOL_IN_USE', result[3]} end
-- Its waiters hear of it and find the pool gone.
changed()
redis.call('UNLINK', meta_key, free_key, leases_key, held_key, expiry_key, requests_key,
           queue_key, waiters_key, sessions_key, retired_key, pool_prefix .. 'seen')
return result
