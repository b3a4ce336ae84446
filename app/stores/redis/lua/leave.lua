local ticket = ARGV[2]
local head = live_head()
if drop_ticket(ticket) and head == ticket then changed() end
return {'OK'}
