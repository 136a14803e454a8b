"""Case intake through the HTTP API, load sent by wrk from a separate process.

Target: at least 500 cases/s sustained with p99 under 50 ms. Baseline in the same run: the same
requests answered one at a time (one connection), which is what a naive client loop gets. Then 16
connections as fast as they go (the ceiling; the latency there is mostly queueing), and the target
itself: 500 requests a second on a fixed schedule (open loop, 64 connections) for 30 s.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
from sqlalchemy import text

from bench.common import big_city_engine, parse_wrk, run_measured, server, wrk_auth
from bench.lookup_single import sample_points
from demo.city import add_governments
from gis.cases import intake
from gis.cluster import _bindir
from gis.db import database_url

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


def database_only(settings, engine, rate: int, secs: int = 30) -> dict:
    """The intake's own statement sent by ``pgbench`` (C, next to no CPU) on the same schedule:
    what PostgreSQL alone allows, with no HTTP and no Python. Latency counted from each
    transaction's scheduled start, as wrk's paced runs count it."""
    with engine.connect() as conn:
        code, limit, unit = conn.execute(
            text("SELECT code, time_limit, time_unit FROM event_class WHERE code = '0102'")
        ).one()
    literal = {
        "at": "'now'",
        "cls": f"'{code}'",
        "comp": "NULL",
        "near_m": "5",
        "k": "NULL",
        "d": "'pgbench'",
        "ch": "'app'",
        "actor": "'pgbench'",
        "lim": f"'{limit}'",
        "lim_unit": f"'{unit}'",
        "due": "'2030-01-01T00:00:00Z'",
    }
    sql = re.sub(r"(?<!:):([a-z_]+)", lambda m: literal.get(m.group(1), m.group(0)), intake._INTAKE)
    sql = re.sub(r"--[^\n]*", "", sql)  # one line for pgbench: the comments go
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "intake.sql"
        script.write_text(
            "\\set i random(0, 4999)\n\\set x 116.25 + (:i % 70) * 0.005\n\\set y 39.80 + (:i / 70) * 0.003\n"
            + " ".join(sql.split())
            + ";\n"
        )
        env = {**os.environ, "PGOPTIONS": "-c plan_cache_mode=force_generic_plan"}
        url = database_url(settings).replace("postgresql+psycopg2://", "postgresql://")
        run, cores = run_measured(
            [
                str(_bindir() / "pgbench"),
                "-n",
                "-M",
                "prepared",
                "-c",
                "16",
                "-j",
                "2",
                "-R",
                str(rate),
                "-T",
                str(secs),
                "-f",
                str(script),
                "-l",
                "--log-prefix",
                str(Path(tmp) / "log"),
                url,
            ],
            secs,
            env=env,
        )
        if run.returncode:
            raise RuntimeError(f"pgbench failed: {run.stderr[-2000:]}")
        rows = np.array(
            [line.split() for log in Path(tmp).glob("log*") for line in log.read_text().splitlines()], dtype=float
        )
    end = rows[:, 4] + rows[:, 5] / 1e6
    lat = (rows[:, 2] + rows[:, 6]) / 1000  # time + schedule lag, ms
    # each client prepares and plans the statement on its first transaction: the first 2 s are warm-up
    steady = lat[end - end.min() > 2]
    return {
        "cases_per_s": round(len(lat) / secs, 1),
        **{f"p{q}_ms": round(float(np.percentile(steady, q)), 2) for q in (50, 90, 99)},
        "p99_with_warm_up_ms": round(float(np.percentile(lat, 99)), 2),
        "cores_used": cores,
    }


def main() -> dict:
    settings, engine = big_city_engine()
    add_governments(engine)
    with engine.connect() as conn:
        pts = sample_points(conn, 5000, seed=3)
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    res: dict = {"server_workers": workers}
    rates = [int(r) for r in os.environ.get("BENCH_RATES", "500").split(",")]
    runs = [("one_connection", 1, 10, 0), ("sustained_16_connections", 16, 30, 0)]
    runs += [(f"paced_{r}_per_s_64_connections", 64, 30, r) for r in rates]
    with tempfile.TemporaryDirectory() as tmp:
        pfile = Path(tmp) / "pts.txt"
        pfile.write_text("\n".join(f"{x:.6f} {y:.6f}" for x, y in pts))

        def wrk(base: str, label: str, conns: int, secs: int, rate: int, auth: str) -> dict:
            script = Path(tmp) / f"{label}.lua"
            script.write_text(auth + WRK_POST % (pfile, rate / (2 if conns > 1 else 1)))
            threads = "-t2" if conns > 1 else "-t1"
            run, cores = run_measured(
                ["wrk", threads, f"-c{conns}", f"-d{secs}s", "--latency", "-s", str(script), base], secs
            )
            if run.returncode:
                raise RuntimeError(f"wrk failed: {run.stderr[-2000:]}")
            return {**parse_wrk(run.stdout), "cores_used": cores}  # server: the wangge worker processes

        with server(settings, 8767, workers) as base:
            for label, conns, secs, rate in runs:
                res[label] = wrk(base, label, conns, secs, rate, wrk_auth(settings))
        # issue 13: the sustained throughput with an API key checked on every request beside the same
        # API with no credentials checked (bench.open_app), alternating three times so that neither
        # gains from going second (the table grows, the machine's load moves)
        with server(settings, 8768, workers) as keyed, server(settings, 8769, workers, open_app=True) as open_:
            pairs = []
            for k in range(3):
                with_key = wrk(keyed, f"key{k}", 16, 15, 0, wrk_auth(settings))
                without = wrk(open_, f"open{k}", 16, 15, 0, "")
                pairs.append((with_key["requests_per_s"], without["requests_per_s"]))
        res["sustained_16_connections_key_vs_no_auth_per_s"] = pairs
        res["auth_throughput_loss_pct"] = round(100 * (1 - sum(a for a, _ in pairs) / sum(b for _, b in pairs)), 1)
    for r in rates:
        res[f"database_only_pgbench_{r}_per_s_16_clients"] = database_only(settings, engine, r)
    with engine.connect() as conn:
        res["cases_stored"] = conn.execute(text('SELECT count(*) FROM "case"')).scalar_one()
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
