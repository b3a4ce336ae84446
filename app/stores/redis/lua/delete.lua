local force, principal = ARGV[2] == '1', opt(ARGV[3])
local size = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
settle(RECLAIM_BATCH) -- rule R4, rule R13
local result = reads.stats(size)
-- rule R7: live leases need force; its waiters hear of it and find the pool gone
if result[3] > 0 and not force then return {'POOL_IN_USE', result[3]} end
changed()
-- rule R3: counters_key stays. KEYS[13], 'seen', is an older version's key (model.py).
redis.call('UNLINK', meta_key, free_key, leases_key, held_key, expiry_key, requests_key,
           queue_key, waiters_key, sessions_key, retired_key, KEYS[13], K.cooling,
           K.cool_objs, K.named, K.owners, K.runs, K.run_ends, K.runs_by_len, K.run_min)
-- rule R9: the journal stays (events_key is not deleted), readable while kept
record('POOL_DELETED', now, {principal = principal, reason = result[3] > 0 and 'forced' or nil})
return result
