local size = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
settle(RECLAIM_BATCH) -- rule R4, rule R13
if not indexed then occasional.upgrade() end -- an older version's pool, a bounded step
return reads.stats(size)
