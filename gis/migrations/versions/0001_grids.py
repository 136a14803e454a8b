"""Four-level grids with validity dates, their subdivided lookup pieces, and import runs.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        """
        CREATE TABLE import_run (
            id bigserial PRIMARY KEY,
            kind text NOT NULL,
            level smallint,
            source text NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            report jsonb NOT NULL DEFAULT '{}'
        );

        CREATE TABLE grid (
            id bigserial PRIMARY KEY,
            code text NOT NULL CHECK (code ~ '^[0-9]+$'),
            level smallint NOT NULL CHECK (level BETWEEN 1 AND 4),
            name text NOT NULL DEFAULT '',
            parent_code text,
            geom geometry(MultiPolygon, 4490) NOT NULL,
            area_m2 double precision NOT NULL,
            resp_unit text,
            resp_person text,
            resp_phone text,
            attrs jsonb NOT NULL DEFAULT '{}',
            valid_from timestamptz NOT NULL DEFAULT now(),
            valid_to timestamptz,
            import_id bigint REFERENCES import_run(id),
            CONSTRAINT grid_code_length CHECK (
                length(code) = CASE level WHEN 1 THEN 6 WHEN 2 THEN 9 WHEN 3 THEN 12 ELSE 15 END),
            CONSTRAINT grid_parent_prefix CHECK (parent_code IS NULL OR starts_with(code, parent_code)),
            CONSTRAINT grid_validity CHECK (valid_to IS NULL OR valid_to > valid_from),
            -- two versions of one code never overlap in time
            CONSTRAINT grid_no_overlapping_versions
                EXCLUDE USING gist (code WITH =, tstzrange(valid_from, valid_to) WITH &&)
        );
        CREATE UNIQUE INDEX grid_current_code ON grid (code) WHERE valid_to IS NULL;
        CREATE INDEX grid_level_current ON grid (level, code) WHERE valid_to IS NULL;
        CREATE INDEX grid_parent_current ON grid (parent_code) WHERE valid_to IS NULL;
        CREATE INDEX grid_geom ON grid USING gist (geom);

        CREATE TABLE grid_piece (
            id bigserial PRIMARY KEY,
            grid_id bigint NOT NULL REFERENCES grid(id) ON DELETE CASCADE,
            level smallint NOT NULL,
            code text NOT NULL,
            valid_from timestamptz NOT NULL,
            valid_to timestamptz,
            geom geometry(Polygon, 4490) NOT NULL
        );
        CREATE INDEX grid_piece_geom ON grid_piece USING gist (geom);
        CREATE INDEX grid_piece_grid ON grid_piece (grid_id);
        CREATE INDEX grid_piece_code ON grid_piece (code, valid_from);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS grid_piece, grid, import_run")
