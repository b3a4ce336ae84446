-- Reclaims at most `limit` expired leases, and ends as many coolings. Reply:
-- 'OK', how many, and the seconds until the next expiry or cooling end ('' when
-- no lease has a TTL and nothing cools).
local limit = tonumber(ARGV[2])
if not pool_size() then return {'OK', 0, ''} end
-- rule R4, rule R13; rule R9: an EXPIRED event for each lease
local reclaimed = settle(limit)
local next_at
for _, key in ipairs({expiry_key, K.cooling}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first > 0 and (not next_at or tonumber(first[2]) < next_at) then
    next_at = tonumber(first[2])
  end
end
if not next_at then return {'OK', reclaimed, ''} end
return {'OK', reclaimed, num(math.max(0, next_at - now))}
