"""Single-point lookup on the 30,000-unit-grid city: inside PostGIS and through the HTTP API.

Baselines in the same run: the same question asked the naive way, a ``ST_Contains`` scan of the
grid table with no index, and the indexed grid table without the subdivided lookup pieces.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import numpy as np
import shapely

from bench.common import auth_header, big_city_engine, parse_wrk, server, summary, timings, token_header, wrk_auth
from bench.points import city_outline
from gis.grids.lookup import lookup_point

N = int(os.environ.get("BENCH_N", "2000"))

NAIVE_SEQ = """SELECT level, code FROM grid
WHERE valid_to IS NULL AND ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4490))"""
CANDIDATES = """SELECT p.level, p.code, ST_Contains(p.geom, g) FROM grid_piece p,
  (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4490) AS g) q
WHERE ST_Intersects(p.geom, q.g) AND p.valid_to IS NULL"""


def sample_points(conn, n: int, seed: int = 1) -> np.ndarray:
    """Uniform points inside the city (where cases happen)."""
    outline = city_outline(conn)
    shapely.prepare(outline)
    minx, miny, maxx, maxy = outline.bounds
    rng = np.random.default_rng(seed)
    out = np.empty((0, 2))
    while len(out) < n:
        c = rng.uniform((minx, miny), (maxx, maxy), size=(2 * n, 2))
        out = np.vstack([out, c[shapely.contains_xy(outline, c[:, 0], c[:, 1])]])
    return out[:n]


WRK_SCRIPT = """
local pts = {}
for line in io.lines("%s") do
  local x, y = line:match("([^ ]+) ([^ ]+)")
  pts[#pts + 1] = {x, y}
end
local i = 0
request = function()
  i = i %% #pts + 1
  return wrk.format("GET", "/api/v1/lookup?lon=" .. pts[i][1] .. "&lat=" .. pts[i][2])
end
"""


def wrk_latency(port: int, pts: np.ndarray, auth: str) -> dict:
    """One connection, one request at a time, for 10 s: wrk's latency percentiles (ms)."""
    with tempfile.TemporaryDirectory() as tmp:
        pfile = Path(tmp) / "pts.txt"
        pfile.write_text("\n".join(f"{x:.6f} {y:.6f}" for x, y in pts))
        script = Path(tmp) / "lookup.lua"
        script.write_text(auth + WRK_SCRIPT % pfile)
        out = subprocess.run(
            ["wrk", "-t1", "-c1", "-d10s", "--latency", "-s", str(script), f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return parse_wrk(out)


def main() -> dict:
    settings, engine = big_city_engine()
    results: dict = {}
    with engine.connect() as conn:
        pts = sample_points(conn, N)
        raw = conn.connection.dbapi_connection
        cur = raw.cursor()
        it = iter(range(10**9))

        def pick():
            x, y = pts[next(it) % len(pts)]
            return float(x), float(y)

        cur.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
        results["naive_unindexed_contains"] = summary(
            timings(lambda: cur.execute(NAIVE_SEQ, tuple(pick())), max(50, N // 20), warmup=5)
        )
        cur.execute("RESET enable_indexscan; RESET enable_bitmapscan")
        results["naive_indexed_whole_polygons"] = summary(
            timings(lambda: (cur.execute(NAIVE_SEQ, tuple(pick())), cur.fetchall()), N)
        )
        results["wangge_candidates_sql"] = summary(
            timings(lambda: (cur.execute(CANDIDATES, tuple(pick())), cur.fetchall()), N)
        )
        results["wangge_lookup_point_full"] = summary(timings(lambda: lookup_point(conn, *pick()), N))
    # through HTTP: a real uvicorn process, requests from this one (and from wrk)
    port = 8765
    with server(settings, port) as url, httpx.Client(base_url=url, timeout=10, headers=auth_header(settings)) as client:
        i = iter(range(10**9))

        def get():
            x, y = pts[next(i) % len(pts)]
            client.get("/api/v1/lookup", params={"lon": float(x), "lat": float(y)}).raise_for_status()

        results["wangge_http_get_lookup_python_client"] = summary(timings(get, N, warmup=50))
        if shutil.which("wrk"):
            # issue 13: the same requests with an API key, with a signed-in user's token, and with no
            # credentials checked at all (bench.open_app), one after the other in this run
            results["wangge_http_get_lookup_wrk"] = wrk_latency(port, pts, wrk_auth(settings))
            token = token_header(settings, url)
            results["wangge_http_get_lookup_wrk_token"] = wrk_latency(port, pts, wrk_auth(settings, token))
    if shutil.which("wrk"):
        with server(settings, port + 10, open_app=True):
            results["wangge_http_get_lookup_wrk_no_auth"] = wrk_latency(port + 10, pts, "")
        for kind in ("", "_token"):
            results[f"auth_cost{kind or '_api_key'}_p50_ms"] = round(
                results[f"wangge_http_get_lookup_wrk{kind}"]["p50_ms"]
                - results["wangge_http_get_lookup_wrk_no_auth"]["p50_ms"],
                3,
            )
    base = results["naive_indexed_whole_polygons"]["p50_ms"]
    results["ratio_naive_unindexed_over_wangge_sql"] = round(
        results["naive_unindexed_contains"]["p50_ms"] / results["wangge_candidates_sql"]["p50_ms"], 1
    )
    results["ratio_naive_indexed_over_wangge_sql"] = round(base / results["wangge_candidates_sql"]["p50_ms"], 1)
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
