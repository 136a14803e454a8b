"""Cheaper position upserts and unit-grid lookups.

* ``worker_position.piece_id``: the lookup piece that held the last fix. While a worker stays
  inside it, ingest keeps the stored chain instead of searching the grid index again.
* No index on ``worker_position`` beyond its key, and room on each page: position updates then
  stay HOT (no index writes). "Who is inside now" reads the stored chain (20,000 rows at most).
* A GiST index on the unit-grid pieces alone, for lookups that only want the unit grid.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE worker_position ADD COLUMN piece_id bigint;
        DROP INDEX IF EXISTS worker_position_geom;
        ALTER TABLE worker_position SET (fillfactor = 50);
        CREATE INDEX grid_piece_unit_geom ON grid_piece USING gist (geom) WHERE level = 4;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX IF EXISTS grid_piece_unit_geom;
        ALTER TABLE worker_position RESET (fillfactor);
        CREATE INDEX worker_position_geom ON worker_position USING gist (geom);
        ALTER TABLE worker_position DROP COLUMN piece_id;
        """
    )
