-- SPDX-License-Identifier: MIT
-- GET MANIFEST_PATH, with If-None-Match: ETAG when ETAG is set (the
-- manifest's 304 path); the peer's update check goes without.
local path = os.getenv("MANIFEST_PATH")
local etag = os.getenv("ETAG") or ""
local headers = {}
if etag ~= "" then headers["If-None-Match"] = etag end

function request()
  return wrk.format("GET", path, headers)
end

function done(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f,"errors":%d,"non2xx":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout, summary.errors.status))
end
