local size = ARGV[2]
-- rule R7
if redis.call('EXISTS', meta_key) == 1 then return {'POOL_EXISTS'} end
redis.call('HSET', meta_key, 'size', size, 'next_fresh', 1, 'created_at', num(now))
return stats(tonumber(size))
