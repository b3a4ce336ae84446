-- The ticket at the head of the queue ('' for none), and 1 when dead
-- waiters in front were left for the next call to drop.
if not pool_size() then return {'POOL_NOT_FOUND'} end
local head, unsure = live_head()
return {'OK', head or '', unsure and 1 or 0}
