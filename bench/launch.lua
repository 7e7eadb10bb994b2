-- SPDX-License-Identifier: MIT
-- POST /v1/launch from CLIENTS distinct clients at VERSION (env), each
-- connection walking its own slice of the client ids. With FRESH=1 each
-- call is a new client instead, numbered from START (env, 0), so runs
-- with different STARTs never meet one another's clients.
dofile(os.getenv("BENCH_LUA") .. "/result.lua")
local clients = tonumber(os.getenv("CLIENTS") or "10000")
local version = os.getenv("VERSION") or "9.9.9"
local app = os.getenv("APP") or "com.example.bench"
local fresh = os.getenv("FRESH") == "1" -- a new client each time
local start = tonumber(os.getenv("START") or "0")
local counter, id = 0, 0

function setup(thread)
  id = id + 1
  thread:set("tid", id)
end

function init(args)
  counter = start + tid * 1000003
end

function request()
  counter = counter + 1
  local n = fresh and counter or (counter % clients)
  local body = string.format(
    '{"client_id":"bench-%d","app":"%s","version":"%s","platform":"linux-x86_64","channel":"stable"}',
    n, app, version)
  return wrk.format("POST", "/v1/launch", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  bench_result(summary, latency)
end
