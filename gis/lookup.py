"""Point → grid at each of the four levels.

The rule, deterministic for points on shared edges and vertices:

1. Candidates at a level are the grids whose closed polygon (interior or boundary) holds the point.
2. Levels are decided from the unit grid upwards. Once a level is decided, the level above is
   its parent (the code prefix) whenever that parent is a candidate, so the chain never splits.
3. Otherwise a grid whose interior contains the point wins; among grids the point only touches
   (shared edge or vertex), the one with the lowest code wins.

Because codes are hierarchical, "lowest code" at a fine level agrees with "lowest code" at the
coarse levels, so a point on a street boundary lands in the same street whichever level decides.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.crs import Crs, parse_crs, xy_to_storage
from gis.errors import InvalidInput
from gis.hierarchy import CODE_LENGTH, LEVEL_NAMES

SQL_DIR = Path(__file__).parent / "sql"


@cache
def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


@dataclass
class LevelHit:
    code: str
    grid_id: int
    inside: bool


def choose(candidates: list[tuple[int, str, int, bool]]) -> dict[int, LevelHit]:
    """Pick one grid per level from ``(level, code, grid_id, inside)`` candidates.

    >>> c = [(4, "460106001001002", 7, False), (4, "460106001001001", 6, False), (3, "460106001001", 3, True)]
    >>> choose(c)[4].code
    '460106001001001'
    >>> choose([])
    {}
    """
    by_level: dict[int, dict[str, LevelHit]] = defaultdict(dict)
    for level, code, grid_id, inside in candidates:
        hit = by_level[level].get(code)
        if hit is None:
            by_level[level][code] = LevelHit(code, grid_id, inside)
        elif inside:
            hit.inside = True
    chosen: dict[int, LevelHit] = {}
    below: str | None = None
    for level in (4, 3, 2, 1):
        hits = by_level.get(level)
        if not hits:
            below = None
            continue
        pick = None
        if below is not None:
            pick = hits.get(below[: CODE_LENGTH[level]])
        if pick is None:
            pick = min(hits.values(), key=lambda h: (not h.inside, h.code))
        chosen[level] = pick
        below = pick.code
    return chosen


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
    x, y = to_storage_points(lons, lats, crs)
    n = len(x)
    if n == 0:
        return []
    ids = list(range(n))
    rows = conn.execute(
        text(sql("lookup_candidates")),
        {
            "ids": ids,
            "xs": x.tolist(),
            "ys": y.tolist(),
            "at": at,
        },
    ).all()
    per_point: dict[int, list[tuple[int, str, int, bool]]] = defaultdict(list)
    for i, level, code, grid_id, inside in rows:
        per_point[i].append((level, code, grid_id, inside))
    chosen = [choose(per_point.get(i, [])) for i in ids]
    unit_ids = [c[4].grid_id if 4 in c else None for c in chosen]
    dist = dict(
        conn.execute(
            text(sql("lookup_details")),
            {
                "ids": ids,
                "xs": x.tolist(),
                "ys": y.tolist(),
                "unit_ids": unit_ids,
                "at": at,
            },
        ).all()
    )
    all_ids = sorted({h.grid_id for c in chosen for h in c.values()})
    names = {}
    if all_ids:
        names = dict(conn.execute(text("SELECT id, name FROM grid WHERE id = ANY(:ids)"), {"ids": all_ids}).all())
    out = []
    for i in ids:
        c = chosen[i]
        levels = {
            LEVEL_NAMES[lv]: ({"code": c[lv].code, "name": names.get(c[lv].grid_id, "")} if lv in c else None)
            for lv in (1, 2, 3, 4)
        }
        d = dist.get(i)
        inside_unit = 4 in c
        out.append(
            {
                "lon": float(x[i]),
                "lat": float(y[i]),
                **levels,
                "outside": not c,
                "on_boundary": bool(inside_unit and (not c[4].inside or (d is not None and d <= tolerance_m))),
                "boundary_distance_m": None if d is None else round(float(d), 3),
            }
        )
    return out


def lookup_point(conn: Connection, lon: float, lat: float, **kw: Any) -> dict[str, Any]:
    return lookup_points(conn, [lon], [lat], **kw)[0]
