"""Store the grid chain of each worker's latest position, set on ingest.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE worker_position
            ADD COLUMN district_code text, ADD COLUMN street_code text,
            ADD COLUMN community_code text, ADD COLUMN grid_code text;
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE worker_position DROP COLUMN district_code, DROP COLUMN street_code, "
        "DROP COLUMN community_code, DROP COLUMN grid_code"
    )
