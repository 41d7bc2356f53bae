-- wrk script for tests/reliability/test_load.py: POSTs a mixed dashboard workload to /graphql.
--
--   wrk --latency -d 60s -c 8 -t 2 -s load_mix.lua http://127.0.0.1:PORT/graphql -- BODIES_FILE
--
-- BODIES_FILE holds one JSON request body per line (the test writes it with real item ids).
-- Each connection cycles through all of them; threads start at different offsets so the
-- server sees the kinds interleaved rather than in lock-step. A 200 whose body carries a
-- GraphQL "errors" member counts as an error too: the API answers bad queries with 200.
-- done() prints one machine-readable line (WRK_JSON {...}) after wrk's own report.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local bodies = {}
local position = 0
non_2xx = 0
graphql_errors = 0

function init(args)
  local path = args[1]
  if path == nil then
    error("load_mix.lua: pass the bodies file after --")
  end
  for line in io.lines(path) do
    if #line > 0 then
      table.insert(bodies, line)
    end
  end
  if #bodies == 0 then
    error("load_mix.lua: no request bodies in " .. path)
  end
  position = (id * 5) % #bodies
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
end

function request()
  position = position % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[position])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non_2xx = non_2xx + 1
  elseif string.find(body, '"errors"', 1, true) then
    graphql_errors = graphql_errors + 1
  end
end

function done(summary, latency, requests)
  local bad_status, gql = 0, 0
  for _, thread in ipairs(threads) do
    bad_status = bad_status + thread:get("non_2xx")
    gql = gql + thread:get("graphql_errors")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "non_2xx": %d, "graphql_errors": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, "status_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, bad_status, gql,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
