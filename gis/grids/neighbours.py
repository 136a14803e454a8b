"""Queen contiguity of the grids, stored with the boundary versions: two grids of one level are
neighbours when they share an edge or a vertex (within 1e-7°, about a centimetre) and were in
force at the same time. Written for every new version when boundaries are written, so a spatial
statistic over the grids in force at any date reads its weights instead of computing them."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

#: degrees: shared edges are equal bit for bit in wangge's own data; imported ones may differ by
#: rounding
TOUCH_DEG = 1e-7

_PAIRS = """INSERT INTO grid_neighbour (grid_id, neighbour_id)
SELECT a.id, b.id FROM grid a JOIN grid b
  ON b.level = a.level AND b.id <> a.id
 AND tstzrange(b.valid_from, b.valid_to) && tstzrange(a.valid_from, a.valid_to)
 AND ST_DWithin(a.geom, b.geom, :tol)
WHERE {where}
ON CONFLICT DO NOTHING"""


def store(conn: Connection, import_id: int | None = None) -> int:
    """Store the neighbours (both ways) of the grids an import wrote (``None``: of every grid)."""
    where, params = ("TRUE", {}) if import_id is None else ("a.import_id = :i", {"i": import_id})
    n = conn.execute(text(_PAIRS.format(where=where)), {**params, "tol": TOUCH_DEG}).rowcount
    if import_id is not None:  # the other direction: the new versions as their neighbours' neighbours
        n += conn.execute(
            text(
                """INSERT INTO grid_neighbour (grid_id, neighbour_id)
                   SELECT n.neighbour_id, n.grid_id FROM grid_neighbour n JOIN grid a ON a.id = n.grid_id
                   WHERE a.import_id = :i ON CONFLICT DO NOTHING"""
            ),
            params,
        ).rowcount
    return n
