"""Case tiles below zoom 15: one count per grid, from the counts kept as cases are written.

At zoom 12 the hottest tile of the big city holds 400,000 cases in 122 unit grids: its tile is
122 points with a count each, read from a few thousand kept rows (:mod:`gis.cases.counts`).
Unit grids are the cells from zoom 12, communities at 10-11, streets at 8-9, districts further
out; each is drawn at its label point (a point on its surface, stored with the grid).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal
from gis.cases.counts import count
from gis.grids.hierarchy import CODE_LENGTH
from gis.tiles import _BOUNDS, _SHIFTED, BUFFER, EXTENT, check_tile, offset_shift

# the grids (in force now) whose label point is in the tile, then their counts, then the tile
_CELL_GRIDS = f"""WITH {_BOUNDS}
SELECT g.code, ST_X(g.label), ST_Y(g.label) FROM grid g, bounds
WHERE g.level = :level AND wangge_valid(g.valid_from, g.valid_to, now()) AND g.geom && bounds.b AND g.label && bounds.b"""
_POINT = "ST_SetSRID(ST_MakePoint(k.lon, k.lat), 4490)"
_CELLS = f"""WITH {_BOUNDS}
SELECT ST_AsMVT(r, :layer, {EXTENT}, 'geom')
FROM (SELECT k.code, k.count, ST_AsMVTGeom({_SHIFTED.format(g=_POINT)}, bounds.merc, {EXTENT}, {BUFFER}, true) AS geom
      FROM unnest(CAST(:codes AS text[]), CAST(:counts AS int[]), CAST(:lons AS float8[]), CAST(:lats AS float8[]))
           AS k(code, count, lon, lat), bounds
      ORDER BY k.code) r
WHERE geom IS NOT NULL"""


def cell_level(z: int) -> int:
    """The grid level whose grids are a case tile's cells at zoom ``z`` (below 15)."""
    return 4 if z >= 12 else 3 if z >= 10 else 2 if z >= 8 else 1


def case_cells(
    conn: Connection,
    z: int,
    x: int,
    y: int,
    *,
    who: Principal | None = None,
    offset: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    **filters: Any,
) -> bytes:
    """The case tile below zoom 15: per grid of :func:`cell_level` whose label point is in the
    tile, its ``code`` and the ``count`` of the cases ``who`` reaches under the case list's
    filters, at the label point. From the kept counts: the hottest tile of 4,000,000 cases is a
    few hundred rows, not 400,000 points."""
    check_tile(z, x, y)
    level = cell_level(z)
    dx, dy = offset_shift(z, x, y) if offset == "gcj02" else (0.0, 0.0)
    values = {"z": z, "x": x, "y": y, "dx": dx, "dy": dy, "layer": "cases"}
    at = {code: (lon, lat) for code, lon, lat in conn.execute(text(_CELL_GRIDS), {**values, "level": level})}
    if not at:
        return b""
    found = count(conn, by=str(CODE_LENGTH[level]), periods=[(start, end)], codes=list(at), who=who, **filters)[0]
    found = {code: n for code, n in found.items() if code in at}
    if not found:
        return b""
    values.update(
        codes=list(found), counts=list(found.values()), lons=[at[c][0] for c in found], lats=[at[c][1] for c in found]
    )
    return bytes(conn.execute(text(_CELLS), values).scalar() or b"")
