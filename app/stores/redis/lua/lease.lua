local obj = ARGV[2]
local size = pool_size()
if not size then return {'POOL_NOT_FOUND'} end
settle(RECLAIM_BATCH) -- rule R4, rule R13
local rec, err = reads.held(obj, size)
if err and err[1] == 'OUT_OF_RANGE' then return err end
if not rec then return {'OK'} end
return {'OK', obj, rec}
