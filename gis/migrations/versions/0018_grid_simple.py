"""Grid boundaries simplified per zoom band for the tiles of low zooms (coverage-safe:
``gis.grids.simple``), kept beside each current grid and recomputed when boundaries are written.

Revision ID: 0018
Revises: 0017
"""

from alembic import op
from sqlalchemy import text

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE grid_simple (
            grid_id bigint PRIMARY KEY REFERENCES grid(id) ON DELETE CASCADE,
            z9 geometry(MultiPolygon, 4490),
            z11 geometry(MultiPolygon, 4490),
            z13 geometry(MultiPolygon, 4490)
        )
        """
    )
    from gis.grids.simple import simplify_groups

    conn = op.get_bind()
    for level in (1, 2, 3, 4):
        parents = (
            conn.execute(
                text("SELECT DISTINCT parent_code FROM grid WHERE level = :l AND valid_to IS NULL"), {"l": level}
            )
            .scalars()
            .all()
        )
        simplify_groups(conn, level, list(parents))


def downgrade() -> None:
    op.execute("DROP TABLE grid_simple")
