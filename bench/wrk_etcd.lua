-- wrk script for bench/etcd_peer.py: etcd's JSON gateway (v3 API, base64 keys and values).
--
-- BENCH_OP says what each request is (the URL's path must be its endpoint):
--   grant  POST /v3/lease/grant, a lease grant, the same body every time
--   txn    POST /v3/kv/txn, a put-if-absent txn: compare create_revision == 0 of a key, on success
--                    put it with the lease BENCH_LEASE; every request a key never used before
--                    (BENCH_PREFIX, the thread's number, a counter), so each txn succeeds as
--                    the grant of a fresh slot would
-- and more from the environment:
--   BENCH_PREFIX  the run's own key prefix (one wrk process per run, so counters restart)
--   BENCH_LEASE   the lease ID every put carries
--   BENCH_EXPECT  a Lua pattern every response body must match
--
-- The result line is the one bench/wrk_report.lua prints:
--   BENCH_RESULT {"requests": ..., "expected": ..., ...}

local op = os.getenv("BENCH_OP") or "grant"
local prefix = os.getenv("BENCH_PREFIX") or "objmgr-bench/"
local lease = os.getenv("BENCH_LEASE") or "0"
local expect = os.getenv("BENCH_EXPECT")

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(text)
   local out = {}
   for i = 1, #text, 3 do
      local a, b, c = string.byte(text, i, i + 2)
      local n = a * 65536 + (b or 0) * 256 + (c or 0)
      local d1 = math.floor(n / 262144) % 64
      local d2 = math.floor(n / 4096) % 64
      local d3 = math.floor(n / 64) % 64
      local d4 = n % 64
      out[#out + 1] = alphabet:sub(d1 + 1, d1 + 1) .. alphabet:sub(d2 + 1, d2 + 1)
         .. (b and alphabet:sub(d3 + 1, d3 + 1) or "=")
         .. (c and alphabet:sub(d4 + 1, d4 + 1) or "=")
   end
   return table.concat(out)
end

local value = base64("1")
local headers = { ["Content-Type"] = "application/json" }

local threads = {}
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_no", thread_count)
   table.insert(threads, thread)
end

-- Per-thread state (each thread has its own Lua state).
responses = 0
ok_2xx = 0
non_2xx = 0
expected = 0
local sent = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if op == "txn" then
   function request()
      sent = sent + 1
      local key = base64(prefix .. thread_no .. "/" .. sent)
      local body = '{"compare": [{"key": "' .. key .. '", "target": "CREATE", '
         .. '"result": "EQUAL", "create_revision": "0"}], "success": [{"request_put": '
         .. '{"key": "' .. key .. '", "value": "' .. value .. '", "lease": "' .. lease .. '"}}]}'
      return wrk.format("POST", wrk.path, headers, body)
   end
else
   -- A TTL far beyond a run: no lease expires while the bench counts them.
   wrk.body = '{"TTL": 3600}'
end

function response(status, resp_headers, resp_body)
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
