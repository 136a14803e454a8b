"""Hot spots (Getis-Ord Gi*, ``gis.analytics.hotspots``) over the big city's 30,000 unit grids and
4,000,000 cases.

Target (issue 15): Gi* over all 30,000 unit grids at most 3 s warm, the neighbours stored.
Baseline in the same run: the same statistic with the queen neighbours computed for the query
(the self-join a first attempt runs each time), then the same numpy arithmetic.
Run: ``python -m bench.hotspots`` (after ``bench.tiles`` or ``bench.bulk_cases`` loaded the cases).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import text

from bench.common import big_city_engine, summary, timings
from gis.analytics import hotspots
from gis.grids.neighbours import TOUCH_DEG

CHINA = ZoneInfo("Asia/Shanghai")
PERIODS = {
    "3_years": {"since": datetime(2022, 1, 1, tzinfo=CHINA), "until": datetime(2025, 1, 1, tzinfo=CHINA)},
    "summer_2024": {"since": datetime(2024, 6, 1, tzinfo=CHINA), "until": datetime(2024, 9, 1, tzinfo=CHINA)},
}
NAIVE_PAIRS = """SELECT a.code, b.code FROM grid a JOIN grid b
  ON b.level = 4 AND b.valid_to IS NULL AND b.id <> a.id AND ST_DWithin(a.geom, b.geom, :tol)
WHERE a.level = 4 AND a.valid_to IS NULL"""


def naive(conn, since, until) -> np.ndarray:
    codes = (
        conn.execute(text("SELECT code FROM grid WHERE level = 4 AND valid_to IS NULL ORDER BY code")).scalars().all()
    )
    index = {c: k for k, c in enumerate(codes)}
    pairs = conn.execute(text(NAIVE_PAIRS), {"tol": TOUCH_DEG}).all()
    counts = dict(
        conn.execute(
            text('SELECT unit_grid_code, count(*) FROM "case" WHERE reported_at >= :a AND reported_at < :b GROUP BY 1'),
            {"a": since, "b": until},
        ).all()
    )
    x = np.array([counts.get(c, 0) for c in codes], dtype=float)
    i = np.array([index[a] for a, _ in pairs])
    j = np.array([index[b] for _, b in pairs])
    return hotspots.gi_star(x, i, j)


def main() -> dict:
    _, engine = big_city_engine()
    res: dict = {}
    with engine.connect() as conn:
        res["unit_grids"] = conn.execute(
            text("SELECT count(*) FROM grid WHERE level = 4 AND valid_to IS NULL")
        ).scalar_one()
        res["stored_pairs"] = conn.execute(text("SELECT count(*) FROM grid_neighbour")).scalar_one()
        for label, period in PERIODS.items():
            res[label] = summary(timings(lambda p=period: hotspots.hotspots(conn, level="unit_grid", **p), 3, warmup=1))
        found = hotspots.hotspots(conn, level="unit_grid", **PERIODS["3_years"])
        res["bins_3_years"] = found["bins"]
        # the permutation option (not a target: an option for statisticians), 9,999 draws
        t = time.perf_counter()
        perm = hotspots.hotspots(conn, level="unit_grid", permutations=9_999, seed=1, **PERIODS["3_years"])
        res["permutations_9999_3_years_ms"] = round((time.perf_counter() - t) * 1000)
        res["bins_3_years_permutations"] = perm["bins"]
        res["islands"] = len(found["islands"])
        t = time.perf_counter()
        z = naive(conn, **PERIODS["3_years"])
        res["naive_neighbours_each_time_3_years_ms"] = round((time.perf_counter() - t) * 1000)
        mine = np.array([g["gi_z"] for g in found["grids"]])
        res["same_z_as_the_naive_way"] = bool(np.allclose(np.round(z, 4), mine, atol=1e-4))
    res["ratio_3_years"] = round(res["naive_neighbours_each_time_3_years_ms"] / res["3_years"]["p50_ms"], 1)
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
