-- wrk script for bench/graphql.py: POSTs one JSON body (the file named after --) to the URL
-- over and over, and prints one machine-readable line (WRK_JSON {...}) when done.
--
--   wrk -c 4 -t 2 -d 5s -s bench/graphql_post.lua http://127.0.0.1:PORT/graphql -- BODY_FILE

function init(args)
  local file = assert(io.open(args[1], "rb"), "graphql_post.lua: pass the body file after --")
  wrk.method = "POST"
  wrk.body = file:read("*a")
  wrk.headers["Content-Type"] = "application/json"
  file:close()
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'WRK_JSON {"requests": %d, "rps": %.2f, "p50_ms": %.3f, "p95_ms": %.3f, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
