local obj, principal, is_admin, token = ARGV[2], opt(ARGV[3]), ARGV[4], opt(ARGV[5])
local _, refused = reads.releasable(obj, principal, is_admin, token)
if refused then return refused end
record('FREED', now, lease_values(obj, ending.release(obj), principal)) -- rule R9
changed()
return {'OK'}
