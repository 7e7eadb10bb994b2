-- SPDX-License-Identifier: MIT
-- POST /v1/upgrades/{id}/events: every upgrade listed in UPGRADES (lines
-- "upgrade_id client_id") walked through a whole lifecycle, downloading to
-- succeeded. Each wrk thread takes every THREADS-th upgrade and reports
-- on WINDOW of them at a time, step by step, so a report always follows
-- its previous one by WINDOW requests (far more than the connections in
-- flight): they arrive in order. Past the last upgrade a thread repeats
-- the final report of one it finished (an idempotent duplicate) and
-- counts it as "exhausted", which bench.py takes for an error: the list
-- was too short for the run.
dofile(os.getenv("BENCH_LUA") .. "/result.lua")
local states = {"downloading", "downloaded", "verifying", "installing", "succeeded"}
local threads = tonumber(os.getenv("THREADS") or "2")
local window = tonumber(os.getenv("WINDOW") or "1000")
local file = os.getenv("UPGRADES")
local headers = {["Content-Type"] = "application/json"}
local made, all_threads = 0, {}
-- Only the block being walked is held: a table of every upgrade (tens of
-- thousands) made each of LuaJIT's collections walk it, and cost wrk a
-- third more per request than launch.lua costs it, on the cores the
-- gateway shares.
local lines, line_no, block, k = nil, 0, {}, 0
local finished -- the last upgrade whose final report was made
local primed = false
exhausted = 0 -- a global: done() reads it with thread:get()

function setup(thread)
  made = made + 1
  thread:set("tid", made)
  table.insert(all_threads, thread)
end

-- The next WINDOW upgrades of this thread's share (every THREADS-th line).
local function next_block()
  block = {}
  if lines == nil then return end
  for line in lines do
    local n = line_no
    line_no = line_no + 1
    if n % threads == tid - 1 then
      local uid, client = line:match("^(%S+) (%S+)$")
      table.insert(block, {"/v1/upgrades/" .. uid .. "/events", client})
      if #block == window then return end
    end
  end
  lines = nil -- at the end, and io.lines has closed the file
end

function init(args)
  local n, mine = 0, 0
  for _ in io.lines(file) do
    if n % threads == tid - 1 then mine = mine + 1 end
    n = n + 1
  end
  if mine < window then window = mine end
  lines = io.lines(file)
  next_block()
end

function request()
  -- wrk calls the first thread's request() once before the run, to check
  -- what it makes, and never sends that request: make it without
  -- taking a step, or the first upgrade would miss its first report.
  if tid == 1 and not primed then
    primed = true
    return wrk.format("POST", "/v1/upgrades/none/events", headers, "{}")
  end
  local per_block = window * #states
  if k == per_block then
    next_block()
    k = 0
  end
  local step = math.floor(k / window) + 1
  local u = block[k % window + 1]
  k = k + 1
  if u == nil then
    exhausted = exhausted + 1
    -- none finished: this thread was given no upgrades at all
    u, step = finished or {"/v1/upgrades/none/events", "none"}, #states
  elseif step == #states then
    finished = u
  end
  local body
  if step == #states then
    body = string.format(
      '{"client_id":"%s","seq":%d,"state":"succeeded","download_ms":1200,"install_ms":300}',
      u[2], step)
  else
    body = string.format('{"client_id":"%s","seq":%d,"state":"%s","progress":%d}',
      u[2], step, states[step], step * 20)
  end
  return wrk.format("POST", u[1], headers, body)
end

function done(summary, latency, requests)
  local ex = 0
  for _, t in ipairs(all_threads) do ex = ex + (t:get("exhausted") or 0) end
  bench_result(summary, latency, {exhausted = ex})
end
