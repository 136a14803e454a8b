"""Indexes for listing components by the grid, community or street they lie in, and by class.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE INDEX component_grid ON component (grid_code);
        CREATE INDEX component_community ON component (community_code);
        CREATE INDEX component_street ON component (street_code);
        CREATE INDEX component_class_code ON component (class_code);
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX component_grid, component_community, component_street, component_class_code")
