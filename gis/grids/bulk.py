"""Bulk point lookup: the four grid codes of many points at once.

Points in CGCS2000 are sorted along a Morton curve (physical order halves the join time), COPYed
into a scratch table and joined polygon-driven, in parallel, inside PostGIS
(:mod:`gis.grids.assign`). The points no unit grid holds go through the lookup rule point by point
(:func:`gis.grids.assign.choose_per_point`), so the answer equals a one-by-one lookup.
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.grids.assign import assign_unit_grids, choose_per_point
from gis.grids.hierarchy import CODE_LENGTH

OUT_COLUMNS = ("district_code", "street_code", "community_code", "unit_grid_code")


def morton_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices that sort points along a Z-order curve (16 bits per axis).

    >>> morton_order(np.array([1.0, 0.0]), np.array([1.0, 0.0])).tolist()
    [1, 0]
    """
    if len(x) == 0:
        return np.arange(0)

    def spread(v: np.ndarray) -> np.ndarray:
        v = v.astype(np.uint64) & np.uint64(0xFFFF)
        v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
        v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
        v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
        return (v | (v << np.uint64(1))) & np.uint64(0x55555555)

    fx, fy = np.nan_to_num(x), np.nan_to_num(y)
    span = max(float(np.ptp(fx)), float(np.ptp(fy)), 1e-12)
    qx = ((fx - fx.min()) / span * 65535).astype(np.uint64)
    qy = ((fy - fy.min()) / span * 65535).astype(np.uint64)
    return np.argsort(spread(qx) | (spread(qy) << np.uint64(1)), kind="stable")


def stage_points(conn: Connection, x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> str:
    """COPY points, in Morton order, into a new unlogged table ``(i, g)`` with a GiST index.

    A regular (not temporary) table, so parallel workers can scan it; it is created and dropped
    inside the caller's transaction. Returns its name.
    """
    name = f"wangge_bulk_{uuid.uuid4().hex[:12]}"
    conn.execute(text(f"CREATE UNLOGGED TABLE {name}_raw (i int, x float8, y float8)"))
    order = morton_order(x, y)
    table = pa.table({"i": ids[order].astype(np.int32), "x": x[order], "y": y[order]})
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
    buf.seek(0)
    conn.connection.cursor().copy_expert(f"COPY {name}_raw FROM STDIN WITH (FORMAT csv)", buf)
    conn.execute(
        text(f"CREATE UNLOGGED TABLE {name} AS SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4490) AS g FROM {name}_raw")
    )
    conn.execute(text(f"DROP TABLE {name}_raw"))
    conn.execute(text(f"CREATE INDEX ON {name} USING gist (g)"))
    conn.execute(text(f"ANALYZE {name}"))
    return name


def assign_codes(conn: Connection, x: np.ndarray, y: np.ndarray, at: datetime) -> list[pa.Array]:
    """District, street, community and unit codes (string arrays, null where none) for points.

    ``x``/``y`` are CGCS2000 lon/lat (NaN for rows to skip). Runs inside the caller's transaction
    and leaves nothing behind.
    """
    n = len(x)
    ok = np.isfinite(x) & np.isfinite(y)
    ids = np.flatnonzero(ok)
    if not len(ids):
        return [pa.nulls(n, pa.string()) for _ in OUT_COLUMNS]
    pts = stage_points(conn, x[ok], y[ok], ids)
    assign_unit_grids(conn, pts, f"{pts}_unit", at=at, id_column="i", geom_column="g", with_code=True)
    buf = io.BytesIO()
    conn.connection.cursor().copy_expert(f"COPY (SELECT id, code FROM {pts}_unit) TO STDOUT WITH (FORMAT csv)", buf)
    pos = np.full(n, -1, dtype=np.int64)
    unit_codes = pa.array([], pa.string())
    if buf.tell():
        buf.seek(0)
        hits = pacsv.read_csv(
            buf,
            read_options=pacsv.ReadOptions(column_names=["i", "code"]),
            convert_options=pacsv.ConvertOptions(column_types={"i": pa.int64(), "code": pa.string()}),
        )
        pos[hits["i"].to_numpy()] = np.arange(hits.num_rows)
        unit_codes = hits["code"].combine_chunks()
    unit = pc.take(unit_codes, pa.array(pos, mask=pos < 0))
    # inside a unit grid, the chain is the unit code's prefixes
    cols = [pc.utf8_slice_codeunits(unit, 0, CODE_LENGTH[level]) for level in (1, 2, 3)] + [unit]
    rest = np.flatnonzero(ok & (pos < 0))
    if len(rest):
        conn.execute(
            text(f"CREATE TEMP TABLE {pts}_rest ON COMMIT DROP AS SELECT i, g FROM {pts} WHERE i = ANY(:rest)"),
            {"rest": rest.tolist()},
        )
        chosen = choose_per_point(conn, f"{pts}_rest", at=at, id_column="i", geom_column="g")
        for col, level in enumerate((1, 2, 3, 4)):
            found = [(i, c[level].code) for i, c in chosen.items() if level in c]
            if found:
                mask = np.zeros(n, dtype=bool)
                mask[[i for i, _ in found]] = True
                cols[col] = pc.replace_with_mask(cols[col], pa.array(mask), pa.array([c for _, c in found]))
    conn.execute(text(f"DROP TABLE {pts}, {pts}_unit"))
    return cols
