"""Bulk point lookup: the four grid codes of many points at once.

Points in CGCS2000 are sorted along a Morton curve (physical order halves the join time), split in
two spatial halves, each binary-COPYed into a scratch table with a GiST index and joined
polygon-driven inside PostGIS on its own connection, at the same time. A point one unit-grid piece
holds takes that grid; the points on edges (several pieces) or in no unit grid go through the
lookup rule itself (:func:`gis.grids.assign.choose_per_point`), so the answer equals a one-by-one
lookup.
"""

from __future__ import annotations

import io
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import numpy as np
import pyarrow as pa
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.grids.assign import choose_per_point
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
        v = (v | (v << np.uint32(8))) & np.uint32(0x00FF00FF)
        v = (v | (v << np.uint32(4))) & np.uint32(0x0F0F0F0F)
        v = (v | (v << np.uint32(2))) & np.uint32(0x33333333)
        return (v | (v << np.uint32(1))) & np.uint32(0x55555555)

    fx, fy = np.nan_to_num(x), np.nan_to_num(y)
    span = max(float(np.ptp(fx)), float(np.ptp(fy)), 1e-12)
    qx = ((fx - fx.min()) * (65535 / span)).astype(np.uint32)
    qy = ((fy - fy.min()) * (65535 / span)).astype(np.uint32)
    # quicksort: 4x faster than a stable sort here, and ties between equal keys do not matter
    return np.argsort(spread(qx) | (spread(qy) << np.uint32(1)), kind="quicksort")


#: one row of a binary COPY into ``(i int, g geometry)``: field count, then each field's length and
#: value; the geometry is EWKB (little-endian point with SRID 4490), which ``geometry_recv`` takes
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("i_len", ">i4"),
        ("i", ">i4"),
        ("g_len", ">i4"),
        ("order", "u1"),
        ("type", "<u4"),
        ("srid", "<u4"),
        ("x", "<f8"),
        ("y", "<f8"),
    ]
)
_COPY_HEADER = b"PGCOPY\n\xff\r\n\0" + bytes(8)
_COPY_TRAILER = b"\xff\xff"


def copy_points(conn: Connection, table: str, ids: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """Binary COPY of points into ``table (i int, g geometry)``: no text to parse and no second
    pass building geometries from x/y columns."""
    rows = np.empty(len(ids), _COPY_ROW)
    rows["fields"], rows["i_len"], rows["i"], rows["g_len"] = 2, 4, ids, 25
    rows["order"], rows["type"], rows["srid"] = 1, 0x20000001, 4490  # little-endian, point with SRID
    rows["x"], rows["y"] = x, y
    buf = io.BytesIO(b"".join((_COPY_HEADER, rows.tobytes(), _COPY_TRAILER)))
    conn.connection.cursor().copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT binary)", buf)


#: one row of ``COPY (SELECT i, grid_id …) TO STDOUT (FORMAT binary)``
_HIT_ROW = np.dtype([("fields", ">i2"), ("i_len", ">i4"), ("i", ">i4"), ("g_len", ">i4"), ("grid", ">i8")])


def stage_points(conn: Connection, x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> str:
    """COPY points, in the order given, into a new unlogged table ``(i, g)`` with a GiST index.

    A regular (not temporary) table, so parallel workers can scan it; it is created and dropped
    inside the caller's transaction. Returns its name.
    """
    name = f"wangge_bulk_{uuid.uuid4().hex[:12]}"
    conn.execute(text(f"CREATE UNLOGGED TABLE {name} (i int, g geometry)"))
    copy_points(conn, name, ids, x, y)
    # the index build also sets the row count the planner needs; column statistics (ANALYZE,
    # 0.1-0.3 s for 1M points) do not change the plan
    conn.execute(text(f"CREATE INDEX ON {name} USING gist (g)"))
    return name


def unit_matches(
    conn: Connection, ids: np.ndarray, x: np.ndarray, y: np.ndarray, at: datetime
) -> tuple[np.ndarray, np.ndarray]:
    """``(point id, grid id)`` for every unit-grid piece whose closed polygon holds a point.

    A point strictly inside one unit grid has one row; one on a shared edge or vertex (or on a
    cut line between two pieces of a grid) has several, and the caller decides those by the
    per-point rule. Driven from the pieces, in parallel, with the rows streamed out of the join by
    a binary COPY (no table written). Points should be sorted spatially: physical order halves the
    join time.
    """
    pts = stage_points(conn, x, y, ids)
    # The lookup pieces are a small table: without this the planner will not scan them in
    # parallel and falls back to the point-driven plan.
    conn.execute(text("SET LOCAL min_parallel_table_scan_size = 0"))
    cur = conn.connection.cursor()
    query = cur.mogrify(
        f"""COPY (SELECT c.i, p.grid_id FROM grid_piece p JOIN {pts} c ON ST_Intersects(p.geom, c.g)
        WHERE p.level = 4 AND wangge_valid(p.valid_from, p.valid_to, %(at)s))
        TO STDOUT WITH (FORMAT binary)""",
        {"at": at},
    ).decode()
    buf = io.BytesIO()
    cur.copy_expert(query, buf)
    conn.execute(text(f"DROP TABLE {pts}"))
    raw = buf.getbuffer()
    if bytes(raw[:11]) != _COPY_HEADER[:11] or bytes(raw[-2:]) != _COPY_TRAILER:
        raise RuntimeError("unexpected binary COPY output from PostgreSQL")
    start = 19 + int.from_bytes(raw[15:19], "big")  # signature, flags, header extension
    rows = np.frombuffer(raw, _HIT_ROW, count=(len(raw) - start - 2) // _HIT_ROW.itemsize, offset=start)
    return rows["i"].astype(np.int64), rows["grid"].astype(np.int64)


def share_snapshot(conn: Connection, helper: Connection) -> None:
    """Make ``helper``'s transaction see exactly what ``conn``'s sees (both just begun): the two
    halves of a lookup then read the same grid versions even if an import commits meanwhile."""
    conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
    snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
    helper.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
    helper.execute(text("SET TRANSACTION SNAPSHOT :s"), {"s": snapshot})


def assign_codes(
    conn: Connection, x: np.ndarray, y: np.ndarray, at: datetime, *, helper: Connection | None = None
) -> list[pa.Array]:
    """District, street, community and unit codes (string arrays, null where none) for points.

    ``x``/``y`` are CGCS2000 lon/lat (NaN for rows to skip). Runs inside the caller's transaction
    and leaves nothing behind. With ``helper`` (a second connection whose transaction sees the
    same snapshot, see :func:`share_snapshot`), the points are split into two spatial halves
    staged and joined at the same time, one per connection: loading and indexing the points is
    single-threaded in PostgreSQL, so this uses the second core for it.
    """
    n = len(x)
    ok = np.isfinite(x) & np.isfinite(y)
    ids = np.flatnonzero(ok)
    if not len(ids):
        return [pa.nulls(n, pa.string()) for _ in OUT_COLUMNS]
    order = ids[morton_order(x[ok], y[ok])].astype(np.int32)
    if helper is None:
        i, grid = unit_matches(conn, order, x[order], y[order], at)
    else:
        half = np.array_split(order, 2)
        with ThreadPoolExecutor(1) as pool:
            other = pool.submit(unit_matches, helper, half[1], x[half[1]], y[half[1]], at)
            mine = unit_matches(conn, half[0], x[half[0]], y[half[0]], at)
            theirs = other.result()
        i, grid = np.concatenate([mine[0], theirs[0]]), np.concatenate([mine[1], theirs[1]])
    # one match: strictly inside that unit grid, or on its outer edge where no other grid is
    # (the per-point rule picks it either way); the chain is the unit code's prefixes
    matches = np.bincount(i, minlength=n)
    one = matches[i] == 1
    grids, index = np.unique(grid[one], return_inverse=True)
    code_of = dict(conn.execute(text("SELECT id, code FROM grid WHERE id = ANY(:ids)"), {"ids": grids.tolist()}).all())
    units = [code_of[g] for g in grids.tolist()]
    # each column is dictionary-encoded over the grids found: four columns share one index
    # array, and nothing is copied per row until the CSV is written
    where = np.full(n, -1, dtype=np.int32)
    where[i[one]] = index
    codes = {level: [c[: CODE_LENGTH[level]] for c in units] for level in (1, 2, 3)} | {4: units}
    at_level = dict.fromkeys(codes, where)
    # none (outside every unit grid) or several (on a shared edge or vertex): the per-point rule
    rest = np.flatnonzero(ok & (matches != 1))
    if len(rest):
        name = f"wangge_bulk_rest_{uuid.uuid4().hex[:12]}"
        conn.execute(text(f"CREATE TEMP TABLE {name} (i int, g geometry) ON COMMIT DROP"))
        copy_points(conn, name, rest, x[rest], y[rest])
        if len(rest) > 1000:  # then the pieces drive the join of choose_per_point's first step
            conn.execute(text(f"CREATE INDEX ON {name} USING gist (g)"))
            conn.execute(text(f"ANALYZE {name}"))
        chosen = choose_per_point(conn, name, at=at, id_column="i", geom_column="g")
        conn.execute(text(f"DROP TABLE {name}"))
        for level in codes:
            found = [(point, c[level].code) for point, c in chosen.items() if level in c]
            if found:
                at_level[level] = at_level[level].copy()
                at_level[level][[p for p, _ in found]] = np.arange(len(found)) + len(codes[level])
                codes[level] = codes[level] + [c for _, c in found]
    return [
        pa.DictionaryArray.from_arrays(
            pa.array(at_level[level], mask=at_level[level] < 0), pa.array(codes[level], pa.string())
        )
        for level in (1, 2, 3, 4)
    ]
