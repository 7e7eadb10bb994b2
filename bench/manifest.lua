-- SPDX-License-Identifier: MIT
-- GET MANIFEST_PATH, with If-None-Match: ETAG when ETAG is set (the
-- manifest's 304 path); the peer's update check goes without.
dofile(os.getenv("BENCH_LUA") .. "/result.lua")
local path = os.getenv("MANIFEST_PATH")
local etag = os.getenv("ETAG") or ""
local headers = {}
if etag ~= "" then headers["If-None-Match"] = etag end

function request()
  return wrk.format("GET", path, headers)
end

function done(summary, latency, requests)
  bench_result(summary, latency)
end
