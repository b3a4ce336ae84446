local size = ARGV[2]
-- rule R7: an existing pool is left alone
if redis.call('EXISTS', meta_key) == 0 then
  redis.call('HSET', meta_key, 'size', size, 'created_at', num(now), unpack(NEW_POOL))
  record('POOL_CREATED', now, {size = size}) -- rule R9: nobody asked
end
return {'OK'}
