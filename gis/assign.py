"""Set-based assignment of a whole table of points to unit grids, inside PostGIS.

A plain polygon-driven join into a new table, which PostgreSQL runs in parallel, instead of the
point-driven ``UPDATE … FROM`` the planner picks for an in-place update (20-30× slower, see
docs/benchmarks.md). Points on a shared edge or vertex match two grids in the join; the lowest
code is kept, as in :mod:`gis.lookup`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.lookup import LevelHit, choose
from gis.sqlutil import ident


def assign_unit_grids(
    conn: Connection,
    source: str,
    target: str,
    *,
    at: datetime | None = None,
    id_column: str = "id",
    geom_column: str = "geom",
    time_column: str | None = None,
    with_code: bool = False,
) -> dict[str, int]:
    """Create ``target (id, grid_id)`` for every point of ``source`` that lies in a unit grid.

    ``grid_id`` is the ``grid.id`` of the unit grid version (narrower than the code, which a join
    to ``grid`` gives when needed); ``with_code`` adds the unit grid's ``code`` from the join itself.

    ``source`` needs a GiST index on its geometry (the join is driven from the polygons). The
    grid versions are those valid at ``at``, or, with ``time_column``, at each point's own time.
    Does not commit.
    """
    src, dst = ident(source), ident(target)
    id_col, geom = ident(id_column), ident(geom_column)
    when = f"c.{ident(time_column)}" if time_column else ":at"
    # The lookup pieces are a small table: without this the planner will not scan them in
    # parallel and falls back to the point-driven plan.
    conn.execute(text("SET LOCAL min_parallel_table_scan_size = 0"))
    joined = conn.execute(
        text(
            f"""CREATE TABLE {dst} AS
            SELECT c.{id_col} AS id, p.grid_id,{" p.code," if with_code else ""} ST_Contains(p.geom, c.{geom}) AS inside
            FROM grid_piece p
            JOIN {src} c ON ST_Intersects(p.geom, c.{geom})
            WHERE p.level = 4 AND p.valid_from <= {when} AND (p.valid_to IS NULL OR p.valid_to > {when})"""
        ),
        {"at": at or datetime.now(UTC)},
    ).rowcount
    # Only points on an edge or vertex (not strictly inside) can have two rows; keep the lowest code.
    ties = conn.execute(
        text(
            f"""DELETE FROM {dst} t USING (
              SELECT DISTINCT ON (b.id) b.id, b.grid_id AS keep
              FROM {dst} b JOIN grid g ON g.id = b.grid_id
              WHERE NOT b.inside AND b.id IN (
                SELECT id FROM {dst} WHERE NOT inside GROUP BY id HAVING count(*) > 1)
              ORDER BY b.id, g.code
            ) d
            WHERE t.id = d.id AND t.grid_id <> d.keep"""
        )
    ).rowcount
    conn.execute(text(f"ALTER TABLE {dst} DROP COLUMN inside"))
    return {"assigned": joined - ties, "boundary_ties_resolved": ties}


def choose_per_point(
    conn: Connection,
    points: str,
    *,
    at: datetime | None = None,
    id_column: str = "id",
    geom_column: str = "geom",
    time_column: str | None = None,
) -> dict[int, dict[int, LevelHit]]:
    """The per-point rule of :mod:`gis.lookup` (all four levels) for every point of ``points``.

    For the few points :func:`assign_unit_grids` leaves without a unit grid (outside every unit
    grid, in a district or street with none yet). A plain join: the planner drives it from each
    point, or, when ``points`` has a GiST index and statistics and is large, from the grid pieces
    (about 4× faster for 14,000 points outside a city). Grid versions as in
    :func:`assign_unit_grids`. Returns ``{id: {level: hit}}`` for the
    points inside at least one grid.
    """
    id_col, geom = ident(id_column), ident(geom_column)
    when = f"t.{ident(time_column)}" if time_column else ":at"
    rows = conn.execute(
        text(
            f"""SELECT t.{id_col}, p.level, p.code, p.grid_id, ST_Contains(p.geom, t.{geom})
            FROM {ident(points)} t JOIN grid_piece p ON ST_Intersects(p.geom, t.{geom})
                 AND p.valid_from <= {when} AND (p.valid_to IS NULL OR p.valid_to > {when})"""
        ),
        {"at": at or datetime.now(UTC)},
    ).all()
    per: dict[int, list[tuple[int, str, int, bool]]] = defaultdict(list)
    for i, level, code, grid_id, inside in rows:
        per[i].append((level, code, grid_id, inside))
    return {i: choose(c) for i, c in sorted(per.items())}
