"""Point → grid at each of the four levels.

The rule, deterministic for points on shared edges and vertices, is defined once, in SQL
(``wangge_grid_chain``, migration 0009; docs/lookup-rule.md) and used by every path: this lookup,
the case intake, the bulk assignment and the GPS ingest.

1. Candidates at a level are the grids whose closed polygon (interior or boundary) holds the point.
2. Levels are decided from the unit grid upwards. Once a level is decided, the level above is
   its parent (the code prefix) whenever that parent is a candidate, so the chain never splits.
3. Otherwise a grid whose interior contains the point wins; among grids the point only touches
   (shared edge or vertex), the one with the lowest code wins. The cut lines of the subdivided
   lookup pieces are no edge: a point on one is inside its grid.

Because codes are hierarchical, "lowest code" at a fine level agrees with "lowest code" at the
coarse levels, so a point on a street boundary lands in the same street whichever level decides.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection

from gis.crs import Crs, parse_crs, xy_to_storage
from gis.errors import InvalidInput
from gis.statements import array_literal, fetch_prepared, load, query

LEVELS = ("district", "street", "community", "unit_grid")


def to_storage_points(lons: Any, lats: Any, crs: str | Crs | None) -> tuple[np.ndarray, np.ndarray]:
    lons = np.asarray(lons, dtype=float)
    lats = np.asarray(lats, dtype=float)
    crs_obj = parse_crs(crs or "EPSG:4490")
    x, y = xy_to_storage(lons, lats, crs_obj)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    bad = ~(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90))
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidInput(
            f"point {i} ({lons[i]}, {lats[i]}) in {crs_obj} is not a valid position",
            field="lon" if len(lons) == 1 else f"points[{i}]",
        )
    return x, y


def lookup_points(
    conn: Connection,
    lons: Any,
    lats: Any,
    *,
    crs: str | Crs | None = None,
    at: datetime | None = None,
    tolerance_m: float = 0.01,
) -> list[dict[str, Any]]:
    """Look up many points at once; answers in input order."""
    at = at or datetime.now(UTC)
    xs, ys = to_storage_points(lons, lats, crs)
    x, y = xs.tolist(), ys.tolist()
    n = len(x)
    if n == 0:
        return []
    ids = list(range(n))
    _, rows = fetch_prepared(
        conn,
        "wangge_lookup",
        load("lookup"),
        {"ids": array_literal(ids), "xs": array_literal(x), "ys": array_literal(y), "at": at},
    )
    found = {r[0]: r for r in rows}
    missing = [i for i in ids if found[i][7] is None]  # in no unit grid: how far is the nearest one
    nearest: dict[int, float] = {}
    if missing:
        nearest = dict(
            conn.execute(
                query("lookup_nearest"),
                {"ids": missing, "xs": [x[i] for i in missing], "ys": [y[i] for i in missing], "at": at},
            ).all()
        )
    out = []
    for i in ids:
        r = found[i]
        d = r[10] if r[7] is not None else nearest.get(i)
        out.append(
            {
                "lon": x[i],
                "lat": y[i],
                **{
                    level: ({"code": r[1 + 2 * k], "name": r[2 + 2 * k] or ""} if r[1 + 2 * k] else None)
                    for k, level in enumerate(LEVELS)
                },
                "outside": r[1] is None,
                "on_boundary": bool(r[7] is not None and (not r[9] or (d is not None and d <= tolerance_m))),
                "boundary_distance_m": None if d is None else round(float(d), 3),
            }
        )
    return out


def lookup_point(conn: Connection, lon: float, lat: float, **kw: Any) -> dict[str, Any]:
    return lookup_points(conn, [lon], [lat], **kw)[0]
