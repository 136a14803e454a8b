"""``wangge import cases FILE``: millions of historical cases from CSV, Parquet or a vector file.

Columns: lon/lat (or a point geometry), the event class, reported_at; optional description,
channel, state, the citizen's contact (contact_name, contact_phone, contact_email: personal data,
masked in answers as for cases taken in one by one) and an external id (stored as the idempotency
key, so a re-run skips what is already there). All rows are checked first; one bad row means
nothing is written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.access import personal
from gis.cases import bulk as case_bulk
from gis.cases.calendar import coverage_warnings_array, load_calendar
from gis.cases.deadlines import deadlines_array
from gis.cases.intake import CHANNELS
from gis.cases.workflow import STATES
from gis.crs import parse_crs, xy_to_storage
from gis.dates import MIN_YEAR
from gis.errors import ImportRejected, InvalidInput
from gis.progress import Progress, quiet
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
    indexes: str = "auto"  # see gis.cases.bulk._rebuild_indexes
    dry_run: bool = False
    actor: str = "import"


def _read(path: Path, opts: CaseImportOptions) -> tuple[pa.Table, np.ndarray, np.ndarray, str | None]:
    """The rows as an Arrow table, plus raw x/y and the CRS the file declares (None: use --crs or lon/lat)."""
    ext = path.suffix.lower()
    if ext in (".csv", ".parquet"):
        if ext == ".csv":
            # codes stay text (a class 0102 read as a number would lose its zero)
            as_text = {
                c: pa.string()
                for c in (opts.class_field, opts.id_field, "channel", "state", "description", *CONTACT)
                if c
            }
            options = pacsv.ConvertOptions(strings_can_be_null=False, column_types=as_text)
        try:
            table = pacsv.read_csv(path, convert_options=options) if ext == ".csv" else pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(f"cannot read {path.name}: {exc}", field="file") from None
        for f, flag in ((opts.lon_field, "lon_field"), (opts.lat_field, "lat_field")):
            if f not in table.column_names:
                raise InvalidInput(f"no column {f!r} in {path.name}", field=flag, allowed=table.column_names)
        x = pd.to_numeric(table[opts.lon_field].to_pandas(), errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(table[opts.lat_field].to_pandas(), errors="coerce").to_numpy(dtype=float)
        return table, x, y, None
    gdf = read_frame(path, opts.layer)
    geoms = gdf.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)
    x = np.where(kinds == 0, shapely.get_x(geoms), np.nan)
    y = np.where(kinds == 0, shapely.get_y(geoms), np.nan)
    crs = opts.crs or str(resolve_crs(gdf, None))
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(str)
    return pa.Table.from_pandas(frame, preserve_index=False), x, y, crs


#: the optional contact columns and the rule each value must follow (gis.access.personal's rules)
CONTACT = {
    "contact_name": (f"^.{{1,{personal.NAME_MAX}}}$", f"contact_name has more than {personal.NAME_MAX} characters"),
    "contact_phone": (personal.PHONE.pattern, "contact_phone is not a phone number (3-32 digits, + ( ) - spaces)"),
    "contact_email": (personal.EMAIL.pattern, "contact_email is not an e-mail address"),
}


def _optional_text(table: pa.Table, name: str) -> pa.ChunkedArray | pa.Array:
    """A text column with blanks as nulls; all nulls when the file has no such column."""
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    values = pc.utf8_trim_whitespace(_text(table[name]))
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _times(column: pa.ChunkedArray, timezone: str) -> np.ndarray:
    """Instants as UTC ``datetime64[us]`` (NaT where unreadable). Times without an offset are in
    ``timezone``. Parsed by Arrow when the whole column is ISO 8601, else row by row by pandas."""
    ts = None
    if pa.types.is_timestamp(column.type):
        ts = column
    else:
        for target in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
            try:
                ts = pc.cast(_text(column), target)
                break
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
    if ts is not None:
        try:
            if ts.type.tz is None:
                ts = pc.assume_timezone(ts, timezone)
            return pc.cast(ts, pa.timestamp("us", tz="UTC")).to_numpy(zero_copy_only=False).astype("datetime64[us]")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # e.g. a time that a DST change skips
            pass
    values = _text(column).to_pandas()
    try:
        parsed = pd.to_datetime(values, format="ISO8601")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(timezone)
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


def _not_in(values: pa.ChunkedArray | pa.Array, allowed) -> np.ndarray:
    return ~pc.is_in(values, value_set=pa.array(sorted(allowed), pa.string())).to_numpy(zero_copy_only=False)


def import_cases(
    engine: Engine, path: str | Path, opts: CaseImportOptions | None = None, *, progress: Progress = quiet
) -> dict[str, Any]:
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
    try:
        ZoneInfo(opts.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {opts.timezone!r}", field="timezone", allowed="an IANA name: UTC, Asia/Shanghai, …"
        ) from None
    with progress("reading") as phase:
        table, x, y, file_crs = _read(path, opts)
        phase.update(table.num_rows)
    n = table.num_rows
    for f, flag in ((opts.class_field, "class_field"), (opts.time_field, "time_field"), (opts.id_field, "id_field")):
        if f is not None and f not in table.column_names:
            raise InvalidInput(f"no column {f!r} in {path.name}", field=flag, allowed=table.column_names)
    x, y = xy_to_storage(x, y, parse_crs(opts.crs or file_crs or "EPSG:4490"))
    x, y = np.array(x, dtype=float), np.array(y, dtype=float)
    reasons: list[tuple[np.ndarray, str]] = []
    bad_xy = ~(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90) & ((x != 0) | (y != 0)))
    reasons.append((bad_xy, "coordinates missing, not numbers, (0,0) or out of range"))
    reported = _times(table[opts.time_field], opts.timezone)
    reasons.append((np.isnat(reported), f"{opts.time_field} is not a date-time"))
    soon = np.datetime64(pd.Timestamp.now(tz="UTC").tz_localize(None) + pd.Timedelta(minutes=5), "us")
    reasons.append((reported > soon, f"{opts.time_field} lies in the future"))
    reasons.append((reported < np.datetime64(f"{MIN_YEAR}-01-01", "us"), f"{opts.time_field} is before {MIN_YEAR}"))
    for name in ("description", opts.id_field):
        if name and name in table.column_names:
            nul = pc.fill_null(pc.match_substring(_text(table[name]), "\x00"), False)
            reasons.append((nul.to_numpy(zero_copy_only=False), f"{name} contains a NUL character"))
    contact = {name: _optional_text(table, name) for name in CONTACT}
    for name, (pattern, why) in CONTACT.items():
        bad = pc.invert(pc.match_substring_regex(contact[name], pattern))
        reasons.append((pc.fill_null(bad, False).to_numpy(zero_copy_only=False), why))
    classes = pc.utf8_lpad(pc.utf8_trim_whitespace(_text(table[opts.class_field])), width=4, padding="0")
    with engine.connect() as conn:
        known = set(conn.execute(text("SELECT code FROM event_class")).scalars())
    reasons.append((_not_in(classes, known), "unknown event class"))
    channel = _text(table["channel"]) if "channel" in table.column_names else pa.array(["other"] * n, pa.string())
    reasons.append((_not_in(channel, CHANNELS), f"channel must be one of {', '.join(CHANNELS)}"))
    state = _text(table["state"]) if "state" in table.column_names else pa.nulls(n, pa.string())
    state = pc.if_else(pc.equal(state, ""), pa.scalar(None, pa.string()), state)
    reasons.append(
        (
            pc.is_valid(state).to_numpy(zero_copy_only=False) & _not_in(state, STATES),
            f"state must be one of {', '.join(STATES)}",
        )
    )
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
    class_codes = classes.to_numpy(zero_copy_only=False)
    with engine.connect() as conn:
        limits, units = case_bulk.deadline_inputs(conn, class_codes)
        calendar = load_calendar(conn)
    due = deadlines_array(reported, limits, units.astype(str), calendar)
    # years the calendar does not know: their deadlines count Monday-Friday
    report["warnings"] = coverage_warnings_array(calendar, reported, due, units.astype(str))
    table = pa.table(
        {
            "row_no": np.arange(1, n + 1, dtype=np.int32),
            "x": x,
            "y": y,
            "class_code": classes,
            "reported_at": pa.array(reported, pa.timestamp("us", tz="UTC")),
            "description": _text(table["description"])
            if "description" in table.column_names
            else pa.nulls(n, pa.string()),
            "channel": channel,
            "state": state,
            "idempotency_key": _text(table[opts.id_field]) if opts.id_field else pa.nulls(n, pa.string()),
            "deadline": pa.array(due, pa.timestamp("us", tz="UTC")),
            **contact,
        }
    )
    with all_or_nothing(engine) as (conn, trans):
        # one session sorting and hashing millions of rows: in memory, not in temporary files
        conn.execute(text("SET LOCAL work_mem = '2GB'"))
        stages = {"checked": round(time.perf_counter() - t0, 2)}
        with progress("staging", n) as phase:
            staged = case_bulk.stage_cases(conn, table)
            phase.update(n)
        stages["staged"] = round(time.perf_counter() - t0, 2)
        with progress("assigning", n) as phase:
            case_bulk.assign_staged(conn, staged)
            phase.update(n)
        stages["assigned"] = round(time.perf_counter() - t0, 2)
        with progress("writing", n) as phase:
            report.update(case_bulk.write_cases(conn, staged, opts.actor, str(path), opts.indexes))
            phase.update(n)
        stages["written"] = round(time.perf_counter() - t0, 2)
        report["stages_s"] = stages
        if opts.dry_run:
            trans.rollback()
        else:
            trans.commit()
    report["seconds"] = round(time.perf_counter() - t0, 3)
    return report
