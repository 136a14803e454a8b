"""Case counts per grid for the heatmap (``gis.cases.heat``) over the big city's 4,000,000 cases.

Target (issue 14): any filter answers within 0.5 s. Baseline in the same run: the same counts by
an on-the-fly spatial join of the cases to the grids (``ST_Contains``), as a first attempt
computes them without the grid chain stored on each case.
Run: ``python -m bench.heat`` (after ``bench.tiles`` or ``bench.bulk_cases`` loaded the cases).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text

from bench.common import big_city_engine, summary, timings
from gis.cases import heat

CHINA = ZoneInfo("Asia/Shanghai")
# the page asks for whole days in China time
YEARS = {"since": datetime(2022, 1, 1, tzinfo=CHINA), "until": datetime(2025, 1, 1, tzinfo=CHINA)}
FILTERS = {
    "street_3_years": {"level": "street"},
    "unit_grid_3_years": {"level": "unit_grid"},
    "street_summers": {"level": "street", "months": [6, 7, 8]},
    "street_one_class": {"level": "street", "class_code": "0102"},
    "street_hotline": {"level": "street", "channel": "hotline"},
    "street_open": {"level": "street", "state": "open"},
    "community_2024_yoy": {
        "level": "community",
        "compare": "yoy",
        "since": datetime(2024, 1, 1, tzinfo=CHINA),
        "until": datetime(2025, 1, 1, tzinfo=CHINA),
    },
    # a period that starts and ends mid-month: its edges are counted from the cases
    "unit_grid_mid_month_to_mid_month": {
        "level": "unit_grid",
        "since": datetime(2022, 1, 16, tzinfo=CHINA),
        "until": datetime(2024, 12, 16, tzinfo=CHINA),
    },
    "unit_grid_mid_month_summers_class_prev": {
        "level": "unit_grid",
        "months": [6, 7, 8],
        "class_code": "0100",
        "compare": "prev",
        "since": datetime(2023, 6, 16, tzinfo=CHINA),
        "until": datetime(2024, 8, 16, tzinfo=CHINA),
    },
}
NAIVE = """SELECT g.code, count(*) FROM "case" c
JOIN grid g ON g.level = 2 AND g.valid_to IS NULL AND ST_Contains(g.geom, c.geom)
WHERE c.reported_at >= :since AND c.reported_at < :until GROUP BY 1"""


def main() -> dict:
    _, engine = big_city_engine()
    res: dict = {}
    with engine.connect() as conn:
        res["cases"] = conn.execute(text('SELECT count(*) FROM "case"')).scalar_one()
        for label, kw in FILTERS.items():
            args = {**YEARS, **kw}
            res[label] = summary(timings(lambda a=args: heat.heat(conn, **a), 3, warmup=1))
        t = time.perf_counter()
        rows = conn.execute(text(NAIVE), YEARS).all()
        res["naive_spatial_join_street_3_years_ms"] = round((time.perf_counter() - t) * 1000)
        mine = {g["code"]: g["count"] for g in heat.heat(conn, level="street", **YEARS)["groups"]}
        res["same_total_as_the_join"] = sum(n for _, n in rows) == sum(mine.values())
        res["same_count_per_street_as_the_join"] = dict(rows) == mine
    res["ratio_street_3_years"] = round(
        res["naive_spatial_join_street_3_years_ms"] / res["street_3_years"]["p50_ms"], 1
    )
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
