"""End to end: append the four grid codes to every row of a 1,000,000-row CSV, on two cities.

wangge: ``wangge lookup --input … --output …`` (one process, start-up included).
Baseline, same data and run: geopandas ``read_file`` (the unit grids, from a GeoPackage),
``read_csv``, ``sjoin``, ``to_csv``, also in its own process.

Cities: ``big`` (30,000 irregular unit grids, about 53 vertices each) and ``voronoi`` (30,000
plain Voronoi unit grids, about 6 vertices each: the point-in-polygon work is small there, so
reading, moving and writing rows decide). Both cover the same districts, so one CSV serves both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from bench.common import big_city_engine, voronoi_city_engine
from bench.points import city_outline, clustered_points
from gis.db import database_url

N = int(os.environ.get("BENCH_CSV_ROWS", "1000000"))
OUT = Path(__file__).resolve().parent / "out"

BASELINE = r"""
import sys, geopandas as gpd, pandas as pd
grids, src, dst = sys.argv[1:4]
units = gpd.read_file(grids, engine="pyogrio")[["code", "geometry"]]
df = pd.read_csv(src, dtype=str, keep_default_na=False)
pts = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(pd.to_numeric(df["lon"]), pd.to_numeric(df["lat"])),
                       crs=units.crs)
j = gpd.sjoin(pts, units, how="left", predicate="within")
j = j[~j.index.duplicated(keep="first")]
code = j["code"].fillna("")
out = df.assign(district_code=code.str[:6], street_code=code.str[:9], community_code=code.str[:12],
                unit_grid_code=code)
out.to_csv(dst, index=False)
"""


def run_city(name: str, settings, engine, src: Path) -> dict:
    grids = OUT / f"units_{name}.gpkg"
    if not grids.exists():
        units = gpd.read_postgis(
            "SELECT code, geom FROM grid WHERE level = 4 AND valid_to IS NULL", engine, geom_col="geom"
        )
        units.to_file(grids, layer="units", engine="pyogrio")
    env = {**os.environ, "DATABASE_URL": database_url(settings)}
    res: dict = {}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", BASELINE, str(grids), str(src), str(OUT / "baseline_out.csv")], check=True)
    res["geopandas_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "lookup",
            "--input",
            str(src),
            "--lon-field",
            "lon",
            "--lat-field",
            "lat",
            "--output",
            str(OUT / "wangge_out.csv"),
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    res["wangge_s"] = round(time.perf_counter() - t, 2)
    a = pd.read_csv(OUT / "baseline_out.csv", dtype=str, keep_default_na=False)
    b = pd.read_csv(OUT / "wangge_out.csv", dtype=str, keep_default_na=False)
    res["differing_unit_codes"] = int((a["unit_grid_code"] != b["unit_grid_code"]).sum())
    res["ratio_geopandas_over_wangge"] = round(res["geopandas_s"] / res["wangge_s"], 2)
    return res


def main() -> dict:
    cities = {"big": big_city_engine(), "voronoi": voronoi_city_engine()}
    OUT.mkdir(exist_ok=True)
    src = OUT / f"cases_{N}.csv"
    if not src.exists():
        with cities["big"][1].connect() as conn:
            x, y = clustered_points(city_outline(conn), N, seed=5)
        rng = np.random.default_rng(9)
        pd.DataFrame(
            {
                "case_id": np.arange(N),
                "reported_at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 86400, N), unit="s"),
                "lon": np.round(x, 6),
                "lat": np.round(y, 6),
                "channel": rng.choice(["hotline", "app", "wechat", "patrol"], N),
                "description": rng.choice(["井盖缺失", "路灯不亮", "垃圾堆放", "占道经营, 噪音"], N),
            }
        ).to_csv(src, index=False)
    only = os.environ.get("BENCH_CSV_CITY")
    res: dict = {"rows": N}
    for name, (settings, engine) in cities.items():
        if not only or only == name:
            res[name] = run_city(name, settings, engine, src)
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
