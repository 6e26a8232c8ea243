-- wrk script for bench/server_load.sh.
--
--   wrk ... -s bench/wrk_bench.lua URL -- [BODY_FILE [CONTENT_TYPE]]
--
-- With BODY_FILE: POST that file's bytes as the raw body (Content-Type
-- CONTENT_TYPE, default image/png), the same request on every connection.
-- Without: plain GET (for /health).
--
-- WRK_REQUESTS_PER_THREAD=N (environment): each thread stops after N
-- responses and then creates the file $WRK_DONE_DIR/thread-<id>. wrk 4.1 still
-- sleeps for the whole -d before it reports, so the caller gives a long -d,
-- waits until there is one file per thread and sends wrk SIGINT, which makes
-- it stop and report at once. Requests still in flight when a thread stops are
-- dropped, so up to (connections - threads) extra requests may reach the
-- server. response() is only defined in this mode, because wrk parses every
-- response for Lua when it exists. (Each thread has its own Lua state, and
-- init() runs before the next thread exists, so the count is per thread
-- rather than a total split here.)
--
-- done() prints one line `WRK_JSON {...}` with the exact counts and latency
-- percentiles (microseconds) from wrk's histogram, for the script to parse
-- instead of wrk's rounded human-readable report.

local limit = tonumber(os.getenv("WRK_REQUESTS_PER_THREAD") or "")
local done_dir = os.getenv("WRK_DONE_DIR")
local responses = 0
local next_id = 0

-- Runs in wrk's main Lua state, once per thread, before that thread's init().
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  if args[1] then
    local f = assert(io.open(args[1], "rb"))
    wrk.body = f:read("*a")
    f:close()
    wrk.method = "POST"
    wrk.headers["Content-Type"] = args[2] or "image/png"
  end
end

if limit then
  function response(status, headers, body)
    responses = responses + 1
    if responses == limit then
      wrk.thread:stop()
      if done_dir then
        assert(io.open(done_dir .. "/thread-" .. id, "w")):close()
      end
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
