"""Vector tiles from PostGIS on the big city (30,000 unit grids) with 4,000,000 cases.

Targets (issue 14): a grid tile at most 50 ms median and 500 KB at any zoom; the hottest case
tile at zoom 12 at most 100 ms and 500 KB. Baseline in the same run, on the same tiles: a naive
``ST_AsMVT`` over the raw rows, the geometry transformed in the WHERE (no index can serve it), as
a first attempt writes it; for cases every point, not counts per cell. Timed at the statement
(``gis.tiles.tile`` on one connection, a city-wide caller), as the HTTP layer adds the same
fraction of a millisecond to both.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text

from bench.bulk_cases import N, history_csv
from bench.common import big_city_engine, summary, timings
from gis import tiles
from gis.cases import cells
from importers.cases import import_cases

CHINA = ZoneInfo("Asia/Shanghai")
RUNS = int(os.environ.get("BENCH_TILE_RUNS", "15"))

NAIVE_GRIDS = """SELECT ST_AsMVT(t, 'g') FROM (
    SELECT code, name, ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y)) AS geom
    FROM grid WHERE level = :level AND valid_to IS NULL AND ST_Transform(geom, 3857) && ST_TileEnvelope(:z, :x, :y)) t"""
NAIVE_CASES = """SELECT ST_AsMVT(t, 'c') FROM (
    SELECT id, state, ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y)) AS geom
    FROM "case" WHERE ST_Transform(geom, 3857) && ST_TileEnvelope(:z, :x, :y)) t"""


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def measure(conn, fn, runs: int) -> dict:
    size = len(fn())
    return {**summary(timings(fn, runs, warmup=2)), "bytes": size}


def main() -> dict:
    settings, engine = big_city_engine()
    with engine.connect() as conn:
        cases = conn.execute(text('SELECT count(*) FROM "case"')).scalar_one()
    if cases < N:  # the bulk-import benchmark's 4,000,000 cases
        with engine.begin() as conn:
            conn.execute(text('TRUNCATE case_event, "case" RESTART IDENTITY'))
        import_cases(engine, history_csv(engine))
    res: dict = {}
    with engine.connect() as conn:
        res["cases"] = conn.execute(text('SELECT count(*) FROM "case"')).scalar_one()
        lon, lat = conn.execute(
            text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) c FROM grid WHERE level = 1) x")
        ).one()
        for collection, level, z in (
            ("grids-district", 1, 8),
            ("grids-street", 2, 10),
            ("grids-community", 3, 12),
            ("grids-unit", 4, 13),
            ("grids-unit", 4, 14),
            ("grids-unit", 4, 16),
        ):
            x, y = tile_of(lon, lat, z)
            label = f"{collection}_z{z}"
            res[label] = measure(conn, lambda c=collection, z=z, x=x, y=y: tiles.tile(conn, c, z, x, y)[0], RUNS)
            res[label + "_naive"] = measure(
                conn,
                lambda z=z, x=x, y=y, lv=level: bytes(conn.execute(text(NAIVE_GRIDS), {"z": z, "x": x, "y": y, "level": lv}).scalar()
                                                     or b""),
                3,
            )  # fmt: skip
        # at each zoom of each grid collection, the tile whose grids carry the most vertices (by
        # the tile of each grid's label point): the target is for any tile, so the densest
        densest = {}
        for collection, level, zooms in (
            ("grids-district", 1, range(0, 13)),
            ("grids-street", 2, range(9, 17)),
            ("grids-community", 3, range(11, 17)),
            ("grids-unit", 4, range(13, 17)),
        ):
            for z in zooms:
                size = 2 * 20037508.342789244 / 2**z
                x, y, vertices = conn.execute(
                    text(
                        """SELECT floor((ST_X(p) + 20037508.342789244) / :s)::int, floor((20037508.342789244 - ST_Y(p)) / :s)::int,
                                  sum(n)
                           FROM (SELECT ST_Transform(label, 3857) p, ST_NPoints(geom) n FROM grid
                                 WHERE level = :level AND valid_to IS NULL) g
                           GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1"""
                    ),
                    {"s": size, "level": level},
                ).one()
                m = measure(conn, lambda c=collection, z=z, x=x, y=y: tiles.tile(conn, c, z, x, y)[0], 5)
                densest[f"{collection}_z{z}"] = {"x": x, "y": y, "vertices": int(vertices), **m}
        res["densest_grid_tiles"] = densest
        res["densest_grid_tiles_worst"] = {
            "p50_ms": max(v["p50_ms"] for v in densest.values()),
            "bytes": max(v["bytes"] for v in densest.values()),
            "at": max(densest, key=lambda k: densest[k]["p50_ms"]),
        }
        # the zoom-12 tile with the most cases
        size = 2 * 20037508.342789244 / 2**12
        hx, hy, n = conn.execute(
            text(
                """SELECT floor((ST_X(p) + 20037508.342789244) / :s)::int, floor((20037508.342789244 - ST_Y(p)) / :s)::int,
                          count(*)
                   FROM (SELECT ST_Transform(geom, 3857) p FROM "case") c GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1"""
            ),
            {"s": size},
        ).one()
        res["hottest_z12_tile"] = {"x": hx, "y": hy, "cases": n}
        res["cases_z12_cells"] = measure(conn, lambda: cells.case_cells(conn, 12, hx, hy), RUNS)
        # with filters (a major class, a year from mid-January: edges counted from the cases)
        year = {
            "class_code": "0100",
            "start": datetime(2024, 1, 16, tzinfo=CHINA),
            "end": datetime(2025, 1, 1, tzinfo=CHINA),
        }
        res["cases_z12_cells_class_year"] = measure(conn, lambda: cells.case_cells(conn, 12, hx, hy, **year), RUNS)
        res["cases_z10_cells"] = measure(conn, lambda: cells.case_cells(conn, 10, hx // 4, hy // 4), RUNS)
        res["cases_z12_naive_points"] = measure(
            conn, lambda: bytes(conn.execute(text(NAIVE_CASES), {"z": 12, "x": hx, "y": hy}).scalar() or b""), 3
        )
        # zoom 15 inside it: points
        px, py = hx * 8 + 4, hy * 8 + 4
        res["cases_z15_points"] = measure(conn, lambda: tiles.tile(conn, "cases", 15, px, py)[0], RUNS)
    for key in [k for k in res if k.endswith("_naive") or k.endswith("_naive_points")]:
        base = key.removesuffix("_naive").removesuffix("_naive_points")
        mine = res.get(base) or res.get(base + "_cells")
        if mine:
            res[f"ratio_{base}"] = round(res[key]["p50_ms"] / max(mine["p50_ms"], 0.001), 1)
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
