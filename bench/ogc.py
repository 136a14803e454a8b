"""OGC API – Features on the big city (30,000 unit grids): a real ``wangge serve`` process.

Targets (issue 16): an items page of 1,000 unit grids at most 200 ms; GDAL reading all 30,000 unit
grids through OAPIF at most 10 s. Baseline in the same run: Debian's ``ogr2ogr`` reading the same
rows from PostGIS directly (the PG driver, written to GeoJSON, as a GIS desk copies a table).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import httpx
from sqlalchemy import text

from bench.common import auth_header, big_city_engine, server, summary
from gis.db import database_url

PORT = int(os.environ.get("BENCH_OGC_PORT", "8791"))
RUNS = int(os.environ.get("BENCH_OGC_RUNS", "20"))


def _pg_dsn(url: str) -> str:
    """The libpq connection string ogr2ogr's PG driver takes, from the SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    parts = [f"dbname={u.database}", f"user={u.username}"]
    if u.password:
        parts.append(f"password={u.password}")
    host = u.query.get("host") or u.host
    if host:
        parts.append(f"host={host}")
    port = u.query.get("port") or u.port
    if port:
        parts.append(f"port={port}")
    return "PG:" + " ".join(parts)


def main() -> dict:
    settings, engine = big_city_engine()
    res: dict = {}
    with engine.connect() as conn:
        res["unit_grids"] = conn.execute(
            text("SELECT count(*) FROM grid WHERE level = 4 AND valid_to IS NULL")
        ).scalar_one()
        ids = conn.execute(text("SELECT id FROM grid WHERE level = 4 AND valid_to IS NULL ORDER BY id")).scalars().all()
    headers = auth_header(settings)
    with server(settings, PORT) as base, httpx.Client(timeout=60, headers=headers) as http:
        url = f"{base}/ogc/collections/grids-unit/items"
        # pages of 1,000 at cursors spread over the city (the first page, and keyset pages)
        cursors = [None] + [str(ids[k]) for k in range(0, len(ids) - 1000, max(1, (len(ids) - 1000) // (RUNS - 1)))][
            : RUNS - 1
        ]
        for c in cursors[:3]:  # warm-up
            http.get(url, params={"limit": 1000, **({"cursor": c} if c else {})})
        times, sizes = [], []
        for c in cursors:
            t = time.perf_counter()
            r = http.get(url, params={"limit": 1000, **({"cursor": c} if c else {})})
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200 and r.json()["numberReturned"] == 1000, r.text[:300]
            sizes.append(len(r.content))
        res["items_page_1000_unit_grids"] = {**summary(times), "mean_kb": round(sum(sizes) / len(sizes) / 1024)}
        r = http.get(url, params={"limit": 1000, "crs": "http://www.opengis.net/def/crs/EPSG/0/4547"})
        t = time.perf_counter()
        for _ in range(5):
            http.get(url, params={"limit": 1000, "crs": "http://www.opengis.net/def/crs/EPSG/0/4547"})
        res["items_page_1000_gauss_krueger_mean_ms"] = round((time.perf_counter() - t) * 200, 1)
        # GDAL (pyogrio's) reading every unit grid, paging by 1,000 as it does by default
        key = headers["Authorization"].removeprefix("Bearer ")
        code = f"""
import time, pyogrio
t = time.perf_counter()
df = pyogrio.read_dataframe("OAPIF:{base}/ogc/collections/grids-unit")
print(len(df), time.perf_counter() - t)
"""
        env = {**os.environ, "GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": key}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        res["gdal_oapif_all_unit_grids"] = {"features": int(out[0]), "s": round(float(out[1]), 2)}
    # the baseline: ogr2ogr straight from PostGIS, the same rows and columns, to GeoJSON
    ogr2ogr = shutil.which("ogr2ogr")
    if ogr2ogr:
        sql = ("SELECT code, name, level, parent_code, area_m2, resp_unit_name, valid_from, valid_to, geom "
               "FROM grid WHERE level = 4 AND valid_to IS NULL")  # fmt: skip
        t = time.perf_counter()
        subprocess.run([ogr2ogr, "-f", "GeoJSON", "/vsistdout/", _pg_dsn(database_url(settings)), "-sql", sql],
                       stdout=subprocess.DEVNULL, check=True)  # fmt: skip
        res["ogr2ogr_from_postgis_all_unit_grids_s"] = round(time.perf_counter() - t, 2)
        res["ratio_gdal_oapif_to_ogr2ogr"] = round(
            res["gdal_oapif_all_unit_grids"]["s"] / res["ogr2ogr_from_postgis_all_unit_grids_s"], 2
        )
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
