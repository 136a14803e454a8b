"""The point-in-grid rule as SQL functions: the one definition the lookup, the intake, the bulk
assignment and the track ingest all call (docs/lookup-rule.md).

* ``wangge_valid(valid_from, valid_to, at)``: the version in force at ``at``.
* ``wangge_grid_chain(point, at)``: the four grids of a point. Candidates are the grids whose
  closed polygon holds it (through the ``ST_Subdivide``d pieces and their index); a grid's
  interior holds it when a piece's interior does, or, for a point on a piece's edge, when the
  whole grid's does: the cut lines of ``ST_Subdivide`` are no edge. The unit grid is the
  candidate whose interior holds the point, else the lowest code; each level above is the parent
  of the level below when that is a candidate, else again interior first, then the lowest code.

Both are plain SQL functions, which PostgreSQL inlines into the calling query: no call overhead
and the indexes stay usable.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VALID = """
CREATE OR REPLACE FUNCTION wangge_valid(valid_from timestamptz, valid_to timestamptz, at timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT valid_from <= at AND (valid_to IS NULL OR valid_to > at)
$$;
"""

CHAIN = """
CREATE OR REPLACE FUNCTION wangge_grid_chain(pt geometry, at timestamptz)
RETURNS TABLE (district text, street text, community text, unit_grid text,
               district_id bigint, street_id bigint, community_id bigint, unit_grid_id bigint,
               unit_grid_inside boolean, unit_grid_piece_id bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH piece AS (
        SELECT p.id, p.level, p.code, p.grid_id, ST_Contains(p.geom, pt) AS inside
        FROM grid_piece p
        WHERE ST_Intersects(p.geom, pt) AND wangge_valid(p.valid_from, p.valid_to, at)
    ), cand AS (
        SELECT level, code, grid_id, min(id) FILTER (WHERE inside) AS piece_id,
               CASE WHEN bool_or(inside) THEN true
                    ELSE (SELECT ST_Contains(g.geom, pt) FROM grid g WHERE g.id = piece.grid_id) END AS inside
        FROM piece GROUP BY level, code, grid_id
    ), u AS (
        SELECT code, grid_id, inside, piece_id FROM cand WHERE level = 4 ORDER BY NOT inside, code LIMIT 1
    ), cm AS (
        SELECT code, grid_id FROM cand WHERE level = 3
        ORDER BY (code = (SELECT left(code, 12) FROM u)) IS TRUE DESC, NOT inside, code LIMIT 1
    ), st AS (
        SELECT code, grid_id FROM cand WHERE level = 2
        ORDER BY (code = (SELECT left(code, 9) FROM cm)) IS TRUE DESC, NOT inside, code LIMIT 1
    ), di AS (
        SELECT code, grid_id FROM cand WHERE level = 1
        ORDER BY (code = (SELECT left(code, 6) FROM st)) IS TRUE DESC, NOT inside, code LIMIT 1
    )
    SELECT (SELECT code FROM di), (SELECT code FROM st), (SELECT code FROM cm), (SELECT code FROM u),
           (SELECT grid_id FROM di), (SELECT grid_id FROM st), (SELECT grid_id FROM cm), (SELECT grid_id FROM u),
           (SELECT inside FROM u), (SELECT piece_id FROM u)
$$;
"""


def upgrade() -> None:
    op.execute(VALID)
    op.execute(CHAIN)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS wangge_grid_chain(geometry, timestamptz), wangge_valid(timestamptz, timestamptz, timestamptz)"
    )
