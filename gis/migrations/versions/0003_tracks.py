"""Gridworkers, their GPS points (partitioned by day), latest positions and refused reports.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE worker (
            id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
            name text NOT NULL,
            role text NOT NULL DEFAULT 'gridworker' CHECK (role IN ('gridworker', 'grid_leader')),
            device_id text UNIQUE,
            token text,
            duty_start time NOT NULL DEFAULT '08:30',
            duty_end time NOT NULL DEFAULT '17:30',
            duty_days smallint[] NOT NULL DEFAULT '{1,2,3,4,5}',  -- ISO weekdays
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE worker_grid (
            worker_id text NOT NULL REFERENCES worker(id) ON DELETE CASCADE,
            grid_code text NOT NULL CHECK (grid_code ~ '^[0-9]{12}([0-9]{3})?$'),
            PRIMARY KEY (worker_id, grid_code)
        );
        CREATE INDEX worker_grid_code ON worker_grid (grid_code);

        -- Three times as Traccar keeps them: fix (GNSS), device (phone clock), server (arrival).
        CREATE TABLE track_point (
            worker_id text NOT NULL,
            fix_time timestamptz NOT NULL,
            device_time timestamptz,
            server_time timestamptz NOT NULL DEFAULT now(),
            geom geometry(Point, 4490) NOT NULL,
            accuracy real,
            speed real,
            course real,
            attrs jsonb NOT NULL DEFAULT '{}',
            flags text[] NOT NULL DEFAULT '{}',
            PRIMARY KEY (worker_id, fix_time)
        ) PARTITION BY RANGE (fix_time);
        CREATE INDEX track_point_geom ON track_point USING gist (geom);

        CREATE TABLE worker_position (
            worker_id text PRIMARY KEY REFERENCES worker(id) ON DELETE CASCADE,
            fix_time timestamptz NOT NULL,
            server_time timestamptz NOT NULL,
            geom geometry(Point, 4490) NOT NULL,
            accuracy real,
            speed real,
            course real,
            attrs jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX worker_position_geom ON worker_position USING gist (geom);

        CREATE TABLE device_reject (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            device_id text,
            reason text NOT NULL,
            payload jsonb NOT NULL DEFAULT '{}'
        );
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS device_reject, worker_position, track_point, worker_grid, worker")
