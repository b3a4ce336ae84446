local obj, principal, is_admin, token = ARGV[2], opt(ARGV[3]), ARGV[4], opt(ARGV[5])
local ttl = ARGV[6]
local rec, refused = reads.releasable(obj, principal, is_admin, token)
if refused then return refused end
-- rule R8: now + ttl, the last ttl when none is given; rule R3: same token
local lease = cjson.decode(rec)
-- rule R12: policy.py renewal_ttl, after rule R8's refusals
local max_ttl = tonumber(policy.maxTtl)
if ttl ~= '' then
  if max_ttl and tonumber(ttl) > max_ttl then return {'TTL_ABOVE_MAX', policy_text} end
  lease.ttl = ttl
elseif max_ttl and not (lease.ttl and tonumber(lease.ttl) <= max_ttl) then
  lease.ttl = num(max_ttl)
end
if lease.ttl then
  local expires = now + tonumber(lease.ttl)
  lease.expires_at = num(expires)
  redis.call('ZREM', expiry_key, obj)
  redis.call('ZADD', expiry_key, expires, pad(obj))
end
rec = cjson.encode(lease)
redis.call('HSET', leases_key, obj, rec)
-- rule R9: a lease without a TTL renews to no expiry
local values = lease_values(obj, lease, principal)
values.expires_at = lease.expires_at
record('RENEWED', now, values)
return {'OK', obj, rec}
