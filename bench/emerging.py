"""Emerging hot spots (``gis.analytics.emerging``) over the big city's 3,000 communities × 36 months.

Target (issue 15): at most 30 s. Baseline in the same run, the naive way whole: the counts by a
scan of the cases, the queen neighbours computed for the query, the space-time Gi* by a per-grid
Python loop over each grid's neighbours and steps, then the same categories.
Run: ``python -m bench.emerging`` (after ``bench.tiles`` or ``bench.bulk_cases`` loaded the cases).
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import text

from bench.common import big_city_engine, summary, timings
from gis.analytics import emerging
from gis.analytics.hotspots import bins, p_two_sided
from gis.grids.neighbours import TOUCH_DEG

CHINA = ZoneInfo("Asia/Shanghai")
NAIVE_PAIRS = """SELECT a.code, b.code FROM grid a JOIN grid b
  ON b.level = 3 AND b.valid_to IS NULL AND b.id <> a.id AND ST_DWithin(a.geom, b.geom, :tol)
WHERE a.level = 3 AND a.valid_to IS NULL"""
PERIOD = {"since": datetime(2022, 1, 1, tzinfo=CHINA), "until": datetime(2025, 1, 1, tzinfo=CHINA)}


def naive_z(x: np.ndarray, neighbours: list[list[int]], k: int = 1) -> np.ndarray:
    t, n = x.shape
    mean, total = x.mean(), x.size
    sd = math.sqrt((x * x).mean() - mean * mean)
    z = np.zeros_like(x)
    for g in range(n):  # one grid at a time, as a first attempt writes it
        cells = [g, *neighbours[g]]
        for s in range(t):
            lag = w = 0.0
            for step in range(max(0, s - k), s + 1):
                for c in cells:
                    lag += x[step, c]
                    w += 1
            z[s, g] = (lag - mean * w) / (sd * math.sqrt((total * w - w * w) / (total - 1)))
    return z


def main() -> dict:
    _, engine = big_city_engine()
    res: dict = {}
    with engine.connect() as conn:
        run = lambda: emerging.emerging(conn, level="community", **PERIOD)  # noqa: E731
        res["communities_x_36_months"] = summary(timings(run, 3, warmup=1))
        found = run()
        res["grids"] = len(found["grids"])
        res["steps"] = len(found["steps"])
        res["categories"] = {k: v for k, v in found["categories"].items() if v}
        codes = [g["code"] for g in found["grids"]]
        t = time.perf_counter()  # the naive way, whole: counts by a scan, neighbours computed, a loop
        index = {c: k for k, c in enumerate(codes)}
        months = {m: s for s, m in enumerate(range(2022 * 12, 2025 * 12))}
        x = np.zeros((36, len(codes)))
        for code, month, n in conn.execute(
            text(
                """SELECT community_code, wangge_month(reported_at), count(*) FROM "case"
                   WHERE reported_at >= :since AND reported_at < :until AND community_code IS NOT NULL GROUP BY 1, 2"""
            ),
            PERIOD,
        ).all():
            if code in index:
                x[months[month], index[code]] += n
        neighbours: list[list[int]] = [[] for _ in codes]
        for a, b in conn.execute(text(NAIVE_PAIRS), {"tol": TOUCH_DEG}).all():
            neighbours[index[a]].append(index[b])
        z = naive_z(x, neighbours)
        b = bins(z.ravel(), p_two_sided(z.ravel())).reshape(z.shape)
        naive_categories = [emerging.category(b[:, g], z[:, g]) for g in range(len(codes))]
        res["naive_whole_ms"] = round((time.perf_counter() - t) * 1000)
        mine = np.array([g["z"] for g in found["grids"]]).T
        res["same_z"] = bool(np.allclose(np.round(z, 4), mine, atol=1e-4))
        res["same_categories"] = naive_categories == [g["category"] for g in found["grids"]]
    res["ratio"] = round(res["naive_whole_ms"] / res["communities_x_36_months"]["p50_ms"], 1)
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
