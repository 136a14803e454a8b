"""Grid boundaries simplified for the tiles of low zooms, coverage-safely.

Each zoom band drops what is under a screen pixel at its last zoom. Simplifying each grid on
its own would open gaps and overlaps between neighbours; ``shapely.coverage_simplify`` simplifies
each shared edge once for both sides. It runs per parent (the children of one community, say)
with the edges on the parent group's outline kept exact: the neighbouring group keeps its side of
those edges exact too, so the whole level stays a coverage while a write recomputes only the
groups it touched (PostGIS 3.3 has no ``ST_CoverageSimplify``; the GEOS inside shapely has it).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.tiles import COLLECTIONS, SIMPLE_BANDS

#: the last zoom of each band → the simplified column the tiles use up to that zoom
BANDS = SIMPLE_BANDS
#: the first zoom each level's tiles are drawn at, so the bands it needs
FIRST_ZOOM = {c.level: c.minzoom for c in COLLECTIONS.values() if c.kind == "grids"}
_METRES_PER_DEGREE = 111_320.0


def tolerance_deg(zoom: int) -> float:
    """A 256-pixel tile's pixel at ``zoom`` on the ground, in degrees (at the equator). GEOS
    simplifies coverages by Visvalingam-Whyatt, the tolerance the side of a square of the
    triangle area a vertex may carry: a vertex whose triangle is under one square pixel goes."""
    return 156_543.03392 / 2**zoom / _METRES_PER_DEGREE


def bands_for(level: int) -> list[int]:
    return [z for z in BANDS if z >= FIRST_ZOOM[level]]


def simplify_groups(conn: Connection, level: int, parents: list[str | None]) -> int:
    """Recompute the simplified boundaries of every current grid of ``level`` whose parent is in
    ``parents`` (``None``: the top level's grids). Returns the grids written."""
    if not parents:
        return 0
    top = None in parents
    rows = conn.execute(
        text(
            """SELECT id, parent_code, ST_AsBinary(geom) FROM grid
               WHERE level = :level AND wangge_valid(valid_from, valid_to, now())
                 AND (parent_code = ANY(:parents) OR (:top AND parent_code IS NULL))
               ORDER BY id"""
        ),
        {"level": level, "parents": [p for p in parents if p is not None], "top": top},
    ).all()
    if not rows:
        return 0
    groups: dict[str | None, list[int]] = defaultdict(list)
    for i, (_, parent, _) in enumerate(rows):
        groups[parent].append(i)
    geoms = shapely.from_wkb([bytes(r[2]) for r in rows])
    out: dict[int, np.ndarray] = {}
    for z in bands_for(level):
        simple = np.empty(len(rows), dtype=object)
        for members in groups.values():
            part = geoms[members]
            simple[members] = shapely.coverage_simplify(part, tolerance_deg(z), simplify_boundary=False)
        out[z] = shapely.to_wkb(shapely.make_valid(simple))
    columns = [BANDS[z] for z in out]
    values = [{"id": r[0], **{BANDS[z]: bytes(out[z][i]) for z in out}} for i, r in enumerate(rows)]
    cols = ", ".join(columns)
    binds = ", ".join(f"ST_Multi(ST_CollectionExtract(ST_GeomFromWKB(:{c}, 4490), 3))" for c in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
    conn.execute(
        text(
            f"INSERT INTO grid_simple (grid_id, {cols}) VALUES (:id, {binds}) ON CONFLICT (grid_id) DO UPDATE SET {updates}"
        ),
        values,
    )
    return len(rows)


def simplify_after_write(conn: Connection, level: int, import_id: int, retired: list[str] = ()) -> int:
    """After an import wrote grids of ``level`` (and closed ``retired``): their sibling groups."""
    parents = (
        conn.execute(
            text(
                """SELECT DISTINCT parent_code FROM grid
               WHERE import_id = :i OR (code = ANY(:retired) AND level = :level)"""
            ),
            {"i": import_id, "retired": list(retired), "level": level},
        )
        .scalars()
        .all()
    )
    return simplify_groups(conn, level, list(parents))
