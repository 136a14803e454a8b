"""``wangge import cases FILE``: millions of historical cases from CSV, Parquet or a vector file.

Columns: lon/lat (or a point geometry), the event class, reported_at; optional description,
channel, state and an external id (stored as the idempotency key, so a re-run skips what is
already there). All rows are checked first; one bad row means nothing is written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis import case_bulk
from gis.cases import CHANNELS, STATES
from gis.crs import parse_crs, xy_to_storage
from gis.deadlines import deadlines_array, load_calendar
from gis.errors import ImportRejected, InvalidInput
from importers.core import all_or_nothing, resolve_crs
from importers.readers import read_frame

MAX_REASONS = 1000


@dataclass
class CaseImportOptions:
    lon_field: str = "lon"
    lat_field: str = "lat"
    class_field: str = "class"
    time_field: str = "reported_at"
    id_field: str | None = None
    crs: str | None = None
    layer: str | None = None
    timezone: str = "UTC"
    indexes: str = "auto"  # see gis.case_bulk._rebuild_indexes
    dry_run: bool = False
    actor: str = "import"


def _read(path: Path, opts: CaseImportOptions) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, str | None]:
    """Rows as text columns, plus raw x/y and the CRS the file declares (None: use --crs or lon/lat)."""
    ext = path.suffix.lower()
    if ext in (".csv", ".parquet"):
        table = (
            pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
            if ext == ".csv"
            else pq.read_table(path)
        )
        for f, flag in ((opts.lon_field, "lon_field"), (opts.lat_field, "lat_field")):
            if f not in table.column_names:
                raise InvalidInput(f"no column {f!r} in {path.name}", field=flag, allowed=table.column_names)
        x = pd.to_numeric(table[opts.lon_field].to_pandas(), errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(table[opts.lat_field].to_pandas(), errors="coerce").to_numpy(dtype=float)
        frame = pa.table({c: pc.cast(table[c], pa.string()) for c in table.column_names}).to_pandas()
        return frame, x, y, None
    gdf = read_frame(path, opts.layer)
    geoms = gdf.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)
    x = np.where(kinds == 0, shapely.get_x(geoms), np.nan)
    y = np.where(kinds == 0, shapely.get_y(geoms), np.nan)
    crs = opts.crs or str(resolve_crs(gdf, None))
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(str)
    return frame, x, y, crs


def import_cases(engine: Engine, path: str | Path, opts: CaseImportOptions | None = None) -> dict[str, Any]:
    opts = opts or CaseImportOptions()
    t0 = time.perf_counter()
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"no such file: {path}", field="file")
    if path.suffix.lower() not in (".csv", ".parquet", ".gpkg", ".geojson", ".json", ".shp", ".zip"):
        raise InvalidInput(
            f"unsupported file type {path.suffix}",
            field="file",
            allowed=[".csv", ".parquet", ".gpkg", ".geojson", ".shp", ".zip"],
        )
    frame, x, y, file_crs = _read(path, opts)
    n = len(frame)
    for f, flag in ((opts.class_field, "class_field"), (opts.time_field, "time_field")):
        if f not in frame.columns:
            raise InvalidInput(f"no column {f!r} in {path.name}", field=flag, allowed=list(frame.columns))
    x, y = xy_to_storage(x, y, parse_crs(opts.crs or file_crs or "EPSG:4490"))
    x, y = np.array(x, dtype=float), np.array(y, dtype=float)
    reasons: list[tuple[np.ndarray, str]] = []
    bad_xy = ~(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90) & ((x != 0) | (y != 0)))
    reasons.append((bad_xy, "coordinates missing, not numbers, (0,0) or out of range"))
    try:  # the fast path: ISO 8601 throughout
        ts = pd.to_datetime(frame[opts.time_field], format="ISO8601")
    except (ValueError, TypeError):
        ts = pd.to_datetime(frame[opts.time_field], errors="coerce", format="mixed")
    if ts.dt.tz is None:
        ts = ts.dt.tz_localize(opts.timezone)
    ts = ts.dt.tz_convert("UTC")
    reasons.append((ts.isna().to_numpy(), f"{opts.time_field} is not a date-time"))
    reasons.append(
        (
            (ts > pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=5)).to_numpy(),
            f"{opts.time_field} lies in the future",
        )
    )
    classes = frame[opts.class_field].str.strip().str.zfill(4).to_numpy()
    with engine.connect() as conn:
        known = set(conn.execute(text("SELECT code FROM event_class")).scalars())
    reasons.append((~np.isin(classes, list(known)), "unknown event class"))
    channel = frame["channel"].to_numpy() if "channel" in frame else np.full(n, "other", dtype=object)
    reasons.append((~np.isin(channel, CHANNELS), f"channel must be one of {', '.join(CHANNELS)}"))
    state = frame["state"].replace("", None).to_numpy() if "state" in frame else np.full(n, None, dtype=object)
    reasons.append((~pd.isna(state) & ~np.isin(state.astype(str), STATES), f"state must be one of {', '.join(STATES)}"))
    rejected = []
    for mask, why in reasons:
        for i in np.flatnonzero(mask)[:MAX_REASONS]:
            rejected.append({"row": int(i) + 1, "reason": why})
    report: dict[str, Any] = {
        "source": str(path),
        "read": n,
        "written": 0,
        "skipped_existing": 0,
        "rejected_count": int(np.logical_or.reduce([m for m, _ in reasons]).sum()),
        "rejected": sorted(rejected, key=lambda r: r["row"])[:MAX_REASONS],
        "dry_run": opts.dry_run,
    }
    if report["rejected_count"]:
        report["seconds"] = round(time.perf_counter() - t0, 3)
        raise ImportRejected(f"{report['rejected_count']} of {n} rows rejected; nothing was written", details=report)
    reported = ts.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    with engine.connect() as conn:
        limits, units = case_bulk.deadline_inputs(conn, classes)
        calendar = load_calendar(conn)
    due = deadlines_array(reported, limits, units.astype(str), calendar)
    keys = frame[opts.id_field].to_numpy() if opts.id_field else np.full(n, None, dtype=object)
    table = pa.table(
        {
            "row_no": np.arange(1, n + 1, dtype=np.int32),
            "x": x,
            "y": y,
            "class_code": classes.astype(str),
            "reported_at": pa.array(reported, pa.timestamp("us", tz="UTC")),
            "description": frame["description"].to_numpy() if "description" in frame else np.full(n, ""),
            "channel": channel.astype(str),
            "state": pa.array(state, pa.string()),
            "idempotency_key": pa.array(keys, pa.string()),
            "deadline": pa.array(due, pa.timestamp("us", tz="UTC")),
        }
    )
    with all_or_nothing(engine) as (conn, trans):
        # one session sorting and hashing millions of rows: in memory, not in temporary files
        conn.execute(text("SET LOCAL work_mem = '512MB'"))
        stages = {"checked": round(time.perf_counter() - t0, 2)}
        staged = case_bulk.stage_cases(conn, table)
        stages["staged"] = round(time.perf_counter() - t0, 2)
        case_bulk.assign_staged(conn, staged)
        stages["assigned"] = round(time.perf_counter() - t0, 2)
        report.update(case_bulk.write_cases(conn, staged, opts.actor, str(path), opts.indexes))
        stages["written"] = round(time.perf_counter() - t0, 2)
        report["stages_s"] = stages
        if opts.dry_run:
            trans.rollback()
        else:
            trans.commit()
    report["seconds"] = round(time.perf_counter() - t0, 3)
    return report
