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
from sqlalchemy import TextClause, text
from sqlalchemy.engine import Connection

from gis.crs import Crs, parse_crs, xy_to_storage
from gis.errors import InvalidInput
from gis.hierarchy import CODE_LENGTH, LEVEL_NAMES
from gis.sqlutil import array_literal, fetch_prepared

SQL_DIR = Path(__file__).parent / "sql"


@cache
def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


@cache
def _query(name: str) -> TextClause:
    # built once so SQLAlchemy's compiled cache is hit on every call
    return text(sql(name))


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
    xs, ys = to_storage_points(lons, lats, crs)
    x, y = xs.tolist(), ys.tolist()
    n = len(x)
    if n == 0:
        return []
    ids = list(range(n))
    per_point: dict[int, list[tuple[int, str, int, bool]]] = defaultdict(list)
    names: dict[int, str] = {}
    unit_distance: dict[tuple[int, int], float] = {}
    _, cand = fetch_prepared(
        conn,
        "wangge_lookup_candidates",
        sql("lookup_candidates"),
        {"ids": array_literal(ids), "xs": array_literal(x), "ys": array_literal(y), "at": at},
    )
    for i, level, code, grid_id, inside, name, dist in cand:
        per_point[i].append((level, code, grid_id, inside))
        names[grid_id] = name
        if dist is not None:
            unit_distance[i, grid_id] = dist
    chosen = [choose(per_point.get(i, [])) for i in ids]
    distance = {i: unit_distance.get((i, c[4].grid_id)) for i, c in enumerate(chosen) if 4 in c}
    missing = [i for i in ids if i not in distance]
    if missing:
        distance.update(
            conn.execute(
                _query("lookup_nearest"),
                {
                    "ids": missing,
                    "xs": [x[i] for i in missing],
                    "ys": [y[i] for i in missing],
                    "at": at,
                },
            ).all()
        )
    out = []
    for i in ids:
        c = chosen[i]
        d = distance.get(i)
        out.append(
            {
                "lon": x[i],
                "lat": y[i],
                **{
                    LEVEL_NAMES[lv]: ({"code": c[lv].code, "name": names.get(c[lv].grid_id, "")} if lv in c else None)
                    for lv in (1, 2, 3, 4)
                },
                "outside": not c,
                "on_boundary": bool(4 in c and (not c[4].inside or (d is not None and d <= tolerance_m))),
                "boundary_distance_m": None if d is None else round(float(d), 3),
            }
        )
    return out


def lookup_point(conn: Connection, lon: float, lat: float, **kw: Any) -> dict[str, Any]:
    return lookup_points(conn, [lon], [lat], **kw)[0]
