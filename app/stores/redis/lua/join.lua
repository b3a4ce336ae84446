local session = ARGV[2]
if not pool_size() then return {'POOL_NOT_FOUND'} end
local id = redis.call('HINCRBY', counters_key, 'ticket', 1)
redis.call('ZADD', queue_key, id, id)
redis.call('HSET', waiters_key, id, session)
redis.call('HINCRBY', sessions_key, session, 1)
refresh_session(session)
return {'OK', id}
