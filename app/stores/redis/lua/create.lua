local size, principal = ARGV[2], opt(ARGV[3])
-- rule R7
if redis.call('EXISTS', meta_key) == 1 then return {'POOL_EXISTS'} end
redis.call('HSET', meta_key, 'size', size, 'next_fresh', 1, 'created_at', num(now))
record('POOL_CREATED', now, {principal = principal, size = size}) -- rule R9
return stats(tonumber(size))
