local size = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
reclaim(RECLAIM_BATCH) -- rule R4
return stats(size)
