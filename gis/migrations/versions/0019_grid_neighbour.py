"""Queen contiguity of the grids, stored with the boundary versions (``gis.grids.neighbours``):
the weights of the planners' hot-spot statistics.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE grid_neighbour (
            grid_id bigint NOT NULL REFERENCES grid(id) ON DELETE CASCADE,
            neighbour_id bigint NOT NULL REFERENCES grid(id) ON DELETE CASCADE,
            PRIMARY KEY (grid_id, neighbour_id)
        );
        CREATE INDEX grid_neighbour_back ON grid_neighbour (neighbour_id);
        """
    )
    from gis.grids.neighbours import store

    store(op.get_bind())


def downgrade() -> None:
    op.execute("DROP TABLE grid_neighbour")
