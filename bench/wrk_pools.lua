-- wrk script for bench/redis_topologies.py: acquires (and frees) spread over several pools.
--
-- From the environment:
--   BENCH_POOLS  the pool names, comma-separated (letters and digits only: they are aliases too)
--   BENCH_MODE   "acquire": every request takes an object of the next pool in turn;
--                "cycle": an object acquired is given back by a later request of the same
--                thread, so acquires and frees alternate (a free first whenever one is owed)
--
-- Each request is one mutation whose alias names its kind and pool (a_POOL, f_POOL), so a
-- response tells what it answered without pairing it with its request. Each thread counts
-- its successes per pool; at the end one line is printed,
--   BENCH_RESULT {"requests": ..., "acquired": {"POOL": n, ...}, "freed": {...}, ...}
-- which the Python driver parses.

local mode = os.getenv("BENCH_MODE") or "acquire"
local pools = {}
for name in string.gmatch(os.getenv("BENCH_POOLS") or "default", "[^,]+") do
   table.insert(pools, name)
end

local ACQUIRE = '{"query":"mutation { a_%s: acquireObject(pool: \\"%s\\") { success lease { obj } } }"}'
-- The object is a variable, so every free of a pool sends the same document (the server's
-- document cache knows it, as it knows a client's).
local FREE = '{"query":"mutation ($obj: Int!) { f_%s: freeObject(pool: \\"%s\\", obj: $obj) '
   .. '{ success } }","variables":{"obj":%s}}'
local HEADERS = { ["Content-Type"] = "application/json" }

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("offset", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

-- Per-thread state (each thread has its own Lua state).
responses = 0
ok_2xx = 0
non_2xx = 0
unexpected = 0
acquired = {}
freed = {}
local owed = {} -- objects acquired and not yet freed: {pool, obj}
local turn = 0

function init(_args)
   turn = offset or 0
   for _, pool in ipairs(pools) do
      acquired[pool] = 0
      freed[pool] = 0
   end
end

function request()
   local count = #owed
   if mode == "cycle" and count > 0 then
      local held = owed[count]
      owed[count] = nil
      return wrk.format("POST", nil, HEADERS, string.format(FREE, held[1], held[1], held[2]))
   end
   local pool = pools[(turn % #pools) + 1]
   turn = turn + 1
   return wrk.format("POST", nil, HEADERS, string.format(ACQUIRE, pool, pool))
end

function response(status, _headers, body)
   responses = responses + 1
   if status >= 200 and status < 300 then
      ok_2xx = ok_2xx + 1
   else
      non_2xx = non_2xx + 1
   end
   local pool, obj = string.match(
      body or "", '"a_(%w+)":%s*{%s*"success":%s*true,%s*"lease":%s*{%s*"obj":%s*(%d+)'
   )
   if pool and acquired[pool] then
      acquired[pool] = acquired[pool] + 1
      if mode == "cycle" then
         table.insert(owed, { pool, obj })
      end
      return
   end
   pool = string.match(body or "", '"f_(%w+)":%s*{%s*"success":%s*true')
   if pool and freed[pool] then
      freed[pool] = freed[pool] + 1
      return
   end
   unexpected = unexpected + 1
end

local function json_counts(totals)
   local parts = {}
   for _, pool in ipairs(pools) do
      table.insert(parts, string.format('"%s": %d', pool, totals[pool]))
   end
   return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, _requests)
   local totals = { responses = 0, ok_2xx = 0, non_2xx = 0, unexpected = 0 }
   local all_acquired, all_freed = {}, {}
   for _, pool in ipairs(pools) do
      all_acquired[pool] = 0
      all_freed[pool] = 0
   end
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + (thread:get(name) or 0)
      end
      local mine_acquired, mine_freed = thread:get("acquired"), thread:get("freed")
      for _, pool in ipairs(pools) do
         all_acquired[pool] = all_acquired[pool] + ((mine_acquired or {})[pool] or 0)
         all_freed[pool] = all_freed[pool] + ((mine_freed or {})[pool] or 0)
      end
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "responses": %d, "ok_2xx": %d, '
         .. '"non_2xx": %d, "unexpected": %d, "socket_errors": %d, "timeouts": %d, '
         .. '"p50_us": %d, "p99_us": %d, "acquired": %s, "freed": %s}\n',
      summary.requests, summary.duration, totals.responses, totals.ok_2xx, totals.non_2xx,
      totals.unexpected, errors.connect + errors.read + errors.write, errors.timeout,
      latency:percentile(50), latency:percentile(99), json_counts(all_acquired),
      json_counts(all_freed)
   ))
end
