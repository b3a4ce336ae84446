-- Store.set_policy: the whole policy replaced, '=' .. PoolPolicy.to_json().
-- Held leases keep their expiry and cooling objects their end (rule R12).
local policy_json, principal = opt(ARGV[2]), opt(ARGV[3])
local size = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
settle(RECLAIM_BATCH) -- rule R4, rule R13 (by the policy they expired under)
redis.call('HSET', meta_key, 'policy', policy_json)
record('POLICY_CHANGED', now, {principal = principal, reason = policy_json}) -- rule R9
pool_size()
-- A looser maxPerOwner may let the head be served.
changed()
return reads.stats(size)
