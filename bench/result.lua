-- SPDX-License-Identifier: MIT
-- The line bench.py reads from every wrk run, written from a script's
-- done(): RESULT {"requests":...,"p99_ms":...,"errors":...,"non2xx":...}
-- plus the integer fields of extra (a table name -> number), if any.
function bench_result(summary, latency, extra)
  local more = ""
  for name, n in pairs(extra or {}) do
    more = more .. string.format(',"%s":%d', name, n)
  end
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f,"errors":%d,"non2xx":%d%s}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout, summary.errors.status, more))
end
