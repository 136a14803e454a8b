"""Names a newcomer guesses right: "unit" meant both the unit grid and the responsible unit.

* ``case.grid_code``, ``component.grid_code``, ``worker_position.grid_code`` → ``unit_grid_code``
* ``case.unit_code``, ``dispatch_rule.unit_code`` → ``resp_unit`` (a ``resp_unit.code``)
* ``grid.resp_unit`` → ``resp_unit_name``: free text from the boundary file, not a ``resp_unit``
* ``worker.token`` dropped: never read (device secrets come with the access control)

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

RENAMES = (
    ('"case"', "grid_code", "unit_grid_code"),
    ('"case"', "unit_code", "resp_unit"),
    ("component", "grid_code", "unit_grid_code"),
    ("worker_position", "grid_code", "unit_grid_code"),
    ("dispatch_rule", "unit_code", "resp_unit"),
    ("grid", "resp_unit", "resp_unit_name"),
)


def upgrade() -> None:
    for table, old, new in RENAMES:
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
    op.execute("ALTER TABLE worker DROP COLUMN token")


def downgrade() -> None:
    op.execute("ALTER TABLE worker ADD COLUMN token text")
    for table, old, new in reversed(RENAMES):
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {new} TO {old}")
