"""The working-day calendar: public holidays and the weekend days worked in their place (调休).

Revision ID: 0007
Revises: 0006
"""

import csv
from importlib import resources

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE work_calendar (
            day date PRIMARY KEY,
            workday boolean NOT NULL,  -- false: a holiday; true: a weekend day worked (调休)
            name text NOT NULL DEFAULT ''
        );
        """
    )
    rows = list(csv.DictReader(resources.files("data").joinpath("work_calendar.csv").read_text("utf-8").splitlines()))
    tbl = sa.table("work_calendar", sa.column("day", sa.Date), sa.column("workday", sa.Boolean), sa.column("name"))
    from datetime import date

    op.bulk_insert(
        tbl, [{"day": date.fromisoformat(r["day"]), "workday": r["workday"] == "true", "name": r["name"]} for r in rows]
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS work_calendar")
