"""Indexes for the command hall's live map: the open cases (a partial index, a few thousand rows
among millions) and what changed since the last poll (``updated_at``).

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""CREATE INDEX case_open ON "case" (id) WHERE state <> 'closed'""")
    op.execute("""CREATE INDEX case_updated ON "case" (updated_at)""")


def downgrade() -> None:
    op.execute("DROP INDEX case_open")
    op.execute("DROP INDEX case_updated")
