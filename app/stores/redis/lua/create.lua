-- policy is '' for the default policy, else '=' .. PoolPolicy.to_json().
local size, principal, policy_json = ARGV[2], opt(ARGV[3]), opt(ARGV[4])
-- rule R7
if redis.call('EXISTS', meta_key) == 1 then return {'POOL_EXISTS'} end
redis.call('HSET', meta_key, 'size', size, 'created_at', num(now), unpack(NEW_POOL))
record('POOL_CREATED', now, {principal = principal, size = size}) -- rule R9
if policy_json then
  -- rule R12, rule R9: the policy after POOL_CREATED, in the same step
  redis.call('HSET', meta_key, 'policy', policy_json)
  record('POLICY_CHANGED', now, {principal = principal, reason = policy_json})
  pool_size()
end
return reads.stats(tonumber(size))
