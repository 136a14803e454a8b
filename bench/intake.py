"""Case intake through the HTTP API, load sent by wrk from a separate process.

Target: at least 500 cases/s sustained with p99 under 50 ms. Baseline in the same run: the same
requests answered one at a time (one connection), which is what a naive client loop gets. Then 16
connections as fast as they go (the ceiling; the latency there is mostly queueing), and the target
itself: 500 requests a second on a fixed schedule (open loop, 64 connections) for 30 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import text

from bench.common import big_city_engine, parse_wrk, server
from bench.lookup_single import sample_points
from data.demo_city import add_governments

WRK_POST = """
local pts = {}
for line in io.lines("%s") do
  local x, y = line:match("([^ ]+) ([^ ]+)")
  pts[#pts + 1] = {x, y}
end
local classes = {"0102", "0104", "0402", "0505", "0601"}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- BENCH_RATE > 0: each wrk thread sends on a fixed schedule of RATE/threads requests a second
-- (an open-loop load, so queueing shows in the latency); 0: as fast as the connections allow
local rate = %s
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } wangge_ts;
int clock_gettime(int clk, wangge_ts *tp);
]]
local ts = ffi.new("wangge_ts")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local next_at = nil
delay = function()
  if rate <= 0 then return 0 end
  local t = now_ms()
  if next_at == nil then next_at = t end
  next_at = next_at + 1000 / rate
  return math.max(0, next_at - 1000 / rate - t)
end
request = function()
  i = i %% #pts + 1
  local body = '{"lon":' .. pts[i][1] .. ',"lat":' .. pts[i][2] .. ',"class":"' .. classes[i %% 5 + 1] ..
               '","channel":"hotline","description":"bench"}'
  return wrk.format(nil, "/api/v1/cases", nil, body)
end
"""


def main() -> dict:
    settings, engine = big_city_engine()
    add_governments(engine)
    with engine.connect() as conn:
        pts = sample_points(conn, 5000, seed=3)
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    res: dict = {"server_workers": workers}
    with server(settings, 8767, workers) as base, tempfile.TemporaryDirectory() as tmp:
        pfile = Path(tmp) / "pts.txt"
        pfile.write_text("\n".join(f"{x:.6f} {y:.6f}" for x, y in pts))
        rates = [int(r) for r in os.environ.get("BENCH_RATES", "500").split(",")]
        runs = [("one_connection", 1, 10, 0), ("sustained_16_connections", 16, 30, 0)]
        runs += [(f"paced_{r}_per_s_64_connections", 64, 30, r) for r in rates]
        for label, conns, secs, rate in runs:
            script = Path(tmp) / f"{label}.lua"
            script.write_text(WRK_POST % (pfile, rate / (2 if conns > 1 else 1)))
            out = subprocess.run(
                [
                    "wrk",
                    "-t2" if conns > 1 else "-t1",
                    f"-c{conns}",
                    f"-d{secs}s",
                    "--latency",
                    "-s",
                    str(script),
                    base,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            res[label] = parse_wrk(out)
    with engine.connect() as conn:
        res["cases_stored"] = conn.execute(text('SELECT count(*) FROM "case"')).scalar_one()
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
