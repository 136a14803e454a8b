"""Track points: a btree on (cell, fix time) in place of the GiST index.

"Who was inside this grid between two times" wants both place and time; the GiST index only
knew the place, and cost 12 µs per inserted point, about a fifth of ingestion. ``wangge_cell``
numbers the 1/256° squares (about 330 × 430 m at 40° N); the query visits the cells under the
grid for the time range, then tests the points exactly.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION wangge_cell(x float8, y float8) RETURNS bigint
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            RETURN (floor(x * 256)::bigint + 46080) * 65536 + (floor(y * 256)::bigint + 32768);
        DROP INDEX IF EXISTS track_point_geom;
        CREATE INDEX track_point_cell ON track_point (wangge_cell(ST_X(geom), ST_Y(geom)), fix_time);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX IF EXISTS track_point_cell;
        DROP FUNCTION IF EXISTS wangge_cell(float8, float8);
        CREATE INDEX track_point_geom ON track_point USING gist (geom);
        """
    )
