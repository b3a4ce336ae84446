-- Reclaims at most `limit` expired leases. Reply: 'OK', how many, and the
-- seconds until the next expiry ('' when no lease has a TTL).
local limit = tonumber(ARGV[2])
if not pool_size() then return {'OK', 0, ''} end
local reclaimed = reclaim(limit) -- rule R4; rule R9: an EXPIRED event for each
local next_expiry = redis.call('ZRANGE', expiry_key, 0, 0, 'WITHSCORES')
if #next_expiry == 0 then return {'OK', reclaimed, ''} end
return {'OK', reclaimed, num(math.max(0, tonumber(next_expiry[2]) - now))}
