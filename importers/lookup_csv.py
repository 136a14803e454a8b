"""``wangge lookup --input``: a spreadsheet in, the same spreadsheet with the four grid codes of
each row appended out (district_code, street_code, community_code, unit_grid_code). Rows keep their
order and their text; the assignment itself is :func:`gis.grids.bulk.assign_codes`."""

from __future__ import annotations

import csv
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy.engine import Engine

from gis.crs import parse_crs, xy_to_storage
from gis.errors import InvalidInput
from gis.grids.bulk import OUT_COLUMNS, assign_codes, share_snapshot
from gis.progress import Progress, quiet


def lookup_csv(
    engine: Engine,
    input_path: str | Path,
    output_path: str | Path,
    *,
    lon_field: str,
    lat_field: str,
    crs: str | None = None,
    at: datetime | None = None,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Append the four grid codes to every row of a CSV; rows keep their order and text."""
    t0 = time.perf_counter()
    at = at or datetime.now(UTC)
    crs_obj = parse_crs(crs or "EPSG:4490")
    path = Path(input_path)
    if not path.exists():
        raise InvalidInput(f"no such file: {path}", field="input")
    out = Path(output_path)
    if out.resolve() == path.resolve():
        raise InvalidInput(
            "--output must not be the input file: it is read while the answer is written", field="output"
        )
    if not out.parent.is_dir():
        raise InvalidInput(f"no such directory: {out.parent}", field="output")
    with path.open("r", encoding="utf-8-sig") as f:
        header = next(csv.reader([f.readline()]), [])
    for flag, name in (("lon_field", lon_field), ("lat_field", lat_field)):
        if name not in header:
            raise InvalidInput(f"column {name!r} not in {path.name}", field=flag, allowed=header)
    clash = [c for c in OUT_COLUMNS if c in header]
    if clash:
        raise InvalidInput(f"{path.name} already has column(s) {', '.join(clash)}", field="input")
    with progress("reading") as phase:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header}, strings_can_be_null=False
            ),
        )
        phases = {"read": time.perf_counter() - t0}
        lon = _to_float(table[lon_field])
        lat = _to_float(table[lat_field])
        x, y = xy_to_storage(lon, lat, crs_obj)
        x, y = np.array(x, dtype=float), np.array(y, dtype=float)
        bad = ~(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90))
        x[bad] = np.nan
        y[bad] = np.nan
        phase.update(table.num_rows)
    phases["convert"] = time.perf_counter() - t0 - sum(phases.values())
    with (
        progress("assigning", table.num_rows) as phase,
        engine.connect() as conn,
        engine.connect() as helper,
        conn.begin(),
        helper.begin(),
    ):
        share_snapshot(conn, helper)  # two halves at once, on two connections seeing the same grids
        cols = assign_codes(conn, x, y, at, helper=helper)
        phase.update(table.num_rows)
    phases["assign"] = time.perf_counter() - t0 - sum(phases.values())
    for name, col in zip(OUT_COLUMNS, cols, strict=True):
        table = table.append_column(name, col)
    # written beside the target and renamed: a failure leaves no half-written file (nor a half-
    # overwritten earlier answer)
    part = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with progress("writing", table.num_rows) as phase:
            pacsv.write_csv(table, part, pacsv.WriteOptions(quoting_style="needed"))
            os.replace(part, out)
            phase.update(table.num_rows)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {out}: {exc.strerror or exc}", field="output") from None
    phases["write"] = time.perf_counter() - t0 - sum(phases.values())
    in_none = pc.is_null(cols[0]).to_numpy(zero_copy_only=False)  # no district means no grid at all
    return {
        "rows": table.num_rows,
        "assigned_unit_grid": table.num_rows - cols[3].null_count,
        "outside": int(np.count_nonzero(in_none & ~bad)),
        "invalid_coordinates": int(bad.sum()),
        "seconds": round(time.perf_counter() - t0, 3),
        "phases": {k: round(v, 3) for k, v in phases.items()},
    }


def _to_float(col: pa.ChunkedArray) -> np.ndarray:
    """Parse a text column as floats; unparsable cells become NaN."""
    try:
        # combined first: ChunkedArray.to_numpy imports pandas (0.16 s of start-up)
        return pc.cast(col, pa.float64()).combine_chunks().to_numpy()
    except pa.ArrowInvalid:  # some cell is not a number: the slow, forgiving path
        import pandas as pd

        return pd.to_numeric(col.to_pandas(), errors="coerce").to_numpy(dtype=float)
