"""Import 4,000,000 historical cases from CSV, assigned against the boundaries and rules of their time.

Target: under 30 s end to end. Baseline in the same run: one-by-one intake (what a script calling
the intake for each row does), measured on a sample and scaled to the full count.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from bench.common import big_city_engine
from bench.points import city_outline, clustered_points
from demo.city import add_governments
from gis.cases import intake
from importers.cases import import_cases

N = int(os.environ.get("BENCH_CASES", "4000000"))
SAMPLE = int(os.environ.get("BENCH_CASES_SAMPLE", "2000"))
OUT = Path(__file__).resolve().parent / "out"


def write_floor(engine) -> dict:
    """What writing the imported rows costs at the least: the same rows copied, from memory, into
    unindexed tables shaped like ``case`` and ``case_event`` (no WAL), then the same indexes built
    on them one after the other. Rolled back."""
    out: dict = {}
    with engine.connect() as conn, conn.begin():
        for table in ("case", "case_event"):
            copy = f"floor_{table}"
            t = time.perf_counter()
            conn.execute(text(f'CREATE TABLE {copy} (LIKE "{table}" INCLUDING DEFAULTS)'))
            conn.execute(text(f'INSERT INTO {copy} SELECT * FROM "{table}"'))
            out[f"{table}_rows_s"] = round(time.perf_counter() - t, 2)
            defs = conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = :t"),
                {"t": table},
            ).all()
            for name, ddl in defs:
                t = time.perf_counter()
                conn.execute(
                    text(
                        ddl.replace(f" {name} ON ", f" floor_{name} ON ").replace(
                            f'public."{table}"' if table == "case" else f"public.{table}", copy
                        )
                    )
                )
                out[f"{name}_s"] = round(time.perf_counter() - t, 2)
        conn.rollback()
    out["total_s"] = round(sum(out.values()), 2)
    return out


def history_csv(engine) -> Path:
    """The N historical cases as a CSV (written once into bench/out, then reused)."""
    OUT.mkdir(exist_ok=True)
    src = OUT / f"history_{N}.csv"
    if not src.exists():
        with engine.connect() as conn:
            x, y = clustered_points(city_outline(conn), N, seed=21)
        rng = np.random.default_rng(2)
        secs = np.sort(rng.integers(0, 3 * 365 * 86400, N))
        pd.DataFrame(
            {
                "case_no": np.char.add("H", np.arange(N).astype(str)),
                "lon": np.round(x, 6),
                "lat": np.round(y, 6),
                "class": rng.choice(["0102", "0104", "0402", "0505", "0601"], N),
                "reported_at": (pd.Timestamp("2022-01-01") + pd.to_timedelta(secs, unit="s")).strftime(
                    "%Y-%m-%d %H:%M:%S"
                ),
                "channel": rng.choice(["hotline", "app", "wechat", "patrol"], N),
                "state": "closed",
            }
        ).to_csv(src, index=False)
    return src


def main() -> dict:
    settings, engine = big_city_engine()
    add_governments(engine)
    src = history_csv(engine)
    with engine.begin() as conn:
        conn.execute(text('TRUNCATE case_event, "case" RESTART IDENTITY'))
    res: dict = {"rows": N}
    t = time.perf_counter()
    report = import_cases(engine, src)
    res["wangge_import_s"] = round(time.perf_counter() - t, 2)
    res["stages_s"] = report.get("stages_s")
    res["written"] = report["written"]
    res["write_s"] = report.get("write_s")
    res["floor_s"] = write_floor(engine)
    sample = pd.read_csv(src, nrows=SAMPLE, dtype=str)
    t = time.perf_counter()
    with engine.connect() as conn:
        for r in sample.itertuples():
            with conn.begin():
                intake.intake(
                    conn,
                    lon=float(r.lon),
                    lat=float(r.lat),
                    class_code=r._4,
                    channel=r.channel,
                    reported_at=pd.Timestamp(r.reported_at, tz="UTC").to_pydatetime(),
                )
    per_row = (time.perf_counter() - t) / SAMPLE
    res["baseline_one_by_one_per_row_ms"] = round(per_row * 1000, 2)
    res["baseline_scaled_to_all_rows_s"] = round(per_row * N, 1)
    res["ratio_baseline_over_wangge"] = round(per_row * N / res["wangge_import_s"], 1)
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
