"""Responsible units, event classes, dispatch rules, cases and their append-only history.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE resp_unit (
            code text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_.-]{1,64}$'),
            name text NOT NULL,
            kind text NOT NULL,
            area_code text CHECK (area_code IS NULL OR area_code ~ '^[0-9]{6}([0-9]{3}){0,3}$'),
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE event_class (
            code text PRIMARY KEY CHECK (code ~ '^[0-9]{4}$'),
            major_name text NOT NULL,
            minor_name text NOT NULL,
            time_limit numeric NOT NULL CHECK (time_limit > 0),
            time_unit text NOT NULL CHECK (time_unit IN ('working_hours', 'working_days', 'natural_days')),
            urgency text NOT NULL DEFAULT 'normal' CHECK (urgency IN ('normal', 'urgent', 'critical'))
        );

        CREATE TABLE component_class (
            code text PRIMARY KEY CHECK (code ~ '^[0-9]{4}$'),
            major_name text NOT NULL,
            minor_name text NOT NULL,
            -- which unit a case about such a component goes to
            responsible text NOT NULL CHECK (responsible IN ('owner', 'maintainer'))
        );

        CREATE TABLE component (
            code text PRIMARY KEY CHECK (code ~ '^[0-9]{16}$'),
            class_code text NOT NULL REFERENCES component_class(code),
            name text NOT NULL DEFAULT '',
            geom geometry(Geometry, 4490) NOT NULL,
            owner_unit text REFERENCES resp_unit(code),
            manager_unit text REFERENCES resp_unit(code),
            maintainer_unit text REFERENCES resp_unit(code),
            state text NOT NULL DEFAULT 'normal',
            recorded_at timestamptz NOT NULL DEFAULT now(),
            changed_at timestamptz NOT NULL DEFAULT now(),
            district_code text, street_code text, community_code text, grid_code text,
            attrs jsonb NOT NULL DEFAULT '{}',
            CHECK (substr(code, 7, 4) = class_code)
        );
        CREATE INDEX component_geom ON component USING gist (geom);

        CREATE TABLE dispatch_rule (
            id bigserial PRIMARY KEY,
            class_code text NOT NULL,
            area_code text NOT NULL CHECK (area_code ~ '^[0-9]{6}([0-9]{3}){0,3}$'),
            unit_code text NOT NULL REFERENCES resp_unit(code),
            start_time time,
            end_time time,
            valid_from timestamptz NOT NULL DEFAULT now(),
            valid_to timestamptz,
            CHECK ((start_time IS NULL) = (end_time IS NULL)),
            CHECK (valid_to IS NULL OR valid_to > valid_from)
        );
        CREATE INDEX dispatch_rule_lookup ON dispatch_rule (class_code, area_code);

        CREATE TABLE "case" (
            id bigserial PRIMARY KEY,
            idempotency_key text UNIQUE,
            geom geometry(Point, 4490) NOT NULL,
            class_code text NOT NULL REFERENCES event_class(code),
            description text NOT NULL DEFAULT '',
            channel text NOT NULL CHECK (channel IN ('hotline', 'app', 'wechat', 'patrol', 'video', 'other')),
            reported_at timestamptz NOT NULL,
            component_code text,
            district_code text, street_code text, community_code text, grid_code text,
            unit_code text REFERENCES resp_unit(code),
            state text NOT NULL,
            deadline timestamptz,
            why jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX case_geom ON "case" USING gist (geom);
        CREATE INDEX case_grid ON "case" (grid_code);
        CREATE INDEX case_unit_state ON "case" (unit_code, state);
        CREATE INDEX case_state_deadline ON "case" (state, deadline);

        CREATE TABLE case_event (
            id bigserial PRIMARY KEY,
            case_id bigint NOT NULL REFERENCES "case"(id),
            at timestamptz NOT NULL DEFAULT now(),
            actor text NOT NULL,
            action text NOT NULL,
            from_state text,
            to_state text,
            note text NOT NULL DEFAULT '',
            data jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX case_event_case ON case_event (case_id, id);
        -- history is append-only
        CREATE FUNCTION case_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'case_event is append-only';
        END $$;
        CREATE TRIGGER case_event_no_update BEFORE UPDATE OR DELETE ON case_event
            FOR EACH ROW EXECUTE FUNCTION case_event_append_only();
        """
    )

    _seed("event_class", "event_classes.csv")
    _seed("component_class", "component_classes.csv")


def _seed(table: str, filename: str) -> None:
    """Load a class table shipped in data/ (editable afterwards through the API)."""
    import csv
    from importlib import resources

    text = resources.files("data").joinpath(filename).read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    tbl = sa.table(table, *[sa.column(c) for c in rows[0]])
    op.bulk_insert(tbl, rows)


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS case_event, "case", dispatch_rule, component, component_class, event_class, resp_unit;
        DROP FUNCTION IF EXISTS case_event_append_only();
        """
    )
