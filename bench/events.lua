-- SPDX-License-Identifier: MIT
-- POST /v1/upgrades/{id}/events: every upgrade listed in UPGRADES (lines
-- "upgrade_id client_id") walked through a whole lifecycle, downloading to
-- succeeded. Each wrk thread takes every THREADS-th upgrade and reports
-- on WINDOW of them at a time, step by step, so a report always follows
-- its previous one by WINDOW requests (far more than the connections in
-- flight): they arrive in order. Past the last upgrade a thread repeats
-- final reports (idempotent duplicates) and counts them as "exhausted".
dofile(os.getenv("BENCH_LUA") .. "/result.lua")
local states = {"downloading", "downloaded", "verifying", "installing", "succeeded"}
local threads = tonumber(os.getenv("THREADS") or "2")
local window = tonumber(os.getenv("WINDOW") or "1000")
local file = os.getenv("UPGRADES")
local made, all_threads = 0, {}
local mine, k, exhausted = {}, 0, 0

function setup(thread)
  made = made + 1
  thread:set("tid", made)
  table.insert(all_threads, thread)
end

function init(args)
  local i = 0
  for line in io.lines(file) do
    if i % threads == tid - 1 then
      local uid, client = line:match("^(%S+) (%S+)$")
      table.insert(mine, {uid, client})
    end
    i = i + 1
  end
  if #mine < window then window = #mine end
end

function request()
  local per_block = window * #states
  local block, within = math.floor(k / per_block), k % per_block
  local step = math.floor(within / window) + 1
  local idx = block * window + within % window + 1
  k = k + 1
  if idx > #mine then
    exhausted = exhausted + 1
    idx, step = #mine, #states
  end
  local u = mine[idx]
  local body
  if step == #states then
    body = string.format(
      '{"client_id":"%s","seq":%d,"state":"succeeded","download_ms":1200,"install_ms":300}',
      u[2], step)
  else
    body = string.format('{"client_id":"%s","seq":%d,"state":"%s","progress":%d}',
      u[2], step, states[step], step * 20)
  end
  return wrk.format("POST", "/v1/upgrades/" .. u[1] .. "/events",
    {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local ex = 0
  for _, t in ipairs(all_threads) do ex = ex + (t:get("exhausted") or 0) end
  bench_result(summary, latency, {exhausted = ex})
end
