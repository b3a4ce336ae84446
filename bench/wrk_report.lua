-- wrk script for bench/wrk.py (bench.acquire_vs_healthz).
--
-- The request comes from the environment:
--   BENCH_METHOD  GET (default) or POST
--   BENCH_BODY    the request body; sent as application/json when given
--   BENCH_EXPECT  a Lua pattern every response body must match, e.g. '"success":%s*true'
--
-- Each thread counts its responses; at the end one line is printed,
--   BENCH_RESULT {"requests": ..., "expected": ..., ...}
-- which the Python driver parses (wrk's own summary is printed above it).

local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local expect = os.getenv("BENCH_EXPECT")

wrk.method = method
if body and body ~= "" then
   wrk.body = body
   wrk.headers["Content-Type"] = "application/json"
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

-- Per-thread counters (each thread has its own Lua state).
responses = 0
ok_2xx = 0
non_2xx = 0
expected = 0

function response(status, headers, resp_body)
   responses = responses + 1
   if status >= 200 and status < 300 then
      ok_2xx = ok_2xx + 1
   else
      non_2xx = non_2xx + 1
   end
   if expect == nil or (resp_body and string.find(resp_body, expect)) then
      expected = expected + 1
   end
end

function done(summary, latency, requests)
   local totals = { responses = 0, ok_2xx = 0, non_2xx = 0, expected = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + (thread:get(name) or 0)
      end
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "responses": %d, "ok_2xx": %d, '
         .. '"non_2xx": %d, "expected": %d, "socket_errors": %d, "timeouts": %d, '
         .. '"p50_us": %d, "p99_us": %d}\n',
      summary.requests, summary.duration, totals.responses, totals.ok_2xx, totals.non_2xx,
      totals.expected, errors.connect + errors.read + errors.write, errors.timeout,
      latency:percentile(50), latency:percentile(99)
   ))
end
