-- Shared by every scenario: per-thread seeds and counters, and a JSON summary line for the bench to read.
-- The scenario scripts read their parameters from the environment (BENCH_*), set by the bench.

local threads = {}
local next_thread = 0

function setup(thread)
   next_thread = next_thread + 1
   thread:set("tid", next_thread)
   table.insert(threads, thread)
end

function init(args)
   math.randomseed(os.time() * 1000 + tid)
   failed_items = 0
end

records_count = tonumber(os.getenv("BENCH_RECORDS") or "1")
group_path = os.getenv("BENCH_PATH") or "/"
run_tag = os.getenv("BENCH_RUN") or "r"
provider = os.getenv("BENCH_PROVIDER") or "bench-app"
realm = os.getenv("BENCH_REALM") or "2243"
authorization = os.getenv("BENCH_AUTH")

-- The headers of every request: the scenario's own, and the API key (every hub request needs one).
function with_auth(headers)
   if authorization then
      headers["Authorization"] = authorization
   end
   return headers
end

-- An app id already stored: the data set holds p0 .. p(records_count - 1).
function stored_id()
   return "p" .. math.random(0, records_count - 1)
end

-- The app id of the n-th write of a mix: a stored one for even n, a new one (unique to this run and thread) for odd n.
function mixed_id(n)
   if n % 2 == 0 then
      return stored_id()
   end
   return "new-" .. run_tag .. "-" .. tid .. "-" .. n
end

function id_array(id)
   return '[{"realm":"' .. realm .. '","provider":"' .. provider .. '","id":"' .. id .. '"}]'
end

function person(id, n)
   return '{"id":' .. id_array(id) .. ',"first_name":"Bench' .. n .. '","last_name":"Person","email":{"address":"b'
      .. n .. '@example.com"}}'
end

function done(summary, latency, requests)
   local failed = 0
   for _, thread in ipairs(threads) do
      failed = failed + (thread:get("failed_items") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
         .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"failed_items":%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout, failed))
end
