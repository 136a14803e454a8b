"""Case counts kept as cases are written: per grid, month, event class, channel and state.

The heatmap, the case tiles below zoom 15 and the planners' counts read these few rows instead of
millions of cases (4,000,000 cases of the big city make 2.8 million rows here, 50 bytes each
instead of 350; real data with a few hot grids compresses more). Statement-level triggers with
transition tables keep them exact: one grouped upsert per statement, so a bulk load of a million
cases costs one aggregate, and an intake one row. ``unit``, ``community``, ``street`` and
``district`` are the case's four grid codes as numbers (codes are digits and never start with 0;
0: no grid at that level), each level kept as the case stores it; ``month`` is
``year * 12 + month - 1`` in China time. Rows whose count fell to zero stay (harmless).
``case_count_total`` holds the same without class, channel and state (a third of the rows): the
counts no such filter asks for.
Also: the report time indexed (the edges of a period that does not start and end on a month's
boundary are counted from the cases) and each grid's label point stored (tiles draw counts and
names there).

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# the dimensions of a case row ``c``, in the table's column order: its four grid codes as numbers
# (0: none), as the case stores them (a unit grid sticking out of its community may give a chain
# whose codes do not nest: each level is kept for itself, as the case list filters it)
DIMS = """coalesce(c.unit_grid_code, '0')::bigint, coalesce(c.community_code, '0')::bigint,
          coalesce(c.street_code, '0')::bigint, coalesce(c.district_code, '0')::bigint,
          wangge_month(c.reported_at), c.class_code, c.channel, c.state"""
CHAIN = "unit, community, street, district"
COLUMNS = f"{CHAIN}, month, class_code, channel, state"
TOTAL = f"{CHAIN}, month"
UPSERT = f"""INSERT INTO case_count AS t ({COLUMNS}, n)
    SELECT {COLUMNS}, sum(n) FROM ({{rows}}) AS d({COLUMNS}, n)
    GROUP BY {COLUMNS} HAVING sum(n) <> 0
    ORDER BY {COLUMNS}  -- one lock order for concurrent writers
    ON CONFLICT ({COLUMNS}) DO UPDATE SET n = t.n + excluded.n;
INSERT INTO case_count_total AS t ({TOTAL}, n)
    SELECT {TOTAL}, sum(n) FROM ({{rows}}) AS d({COLUMNS}, n)
    GROUP BY {TOTAL} HAVING sum(n) <> 0
    ORDER BY {TOTAL}
    ON CONFLICT ({TOTAL}) DO UPDATE SET n = t.n + excluded.n"""


def _rows(table: str, sign: int) -> str:
    return f"SELECT {DIMS}, {sign} AS n FROM {table} c"


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION wangge_month(t timestamptz) RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT (extract(year FROM t AT TIME ZONE 'Asia/Shanghai') * 12
                    + extract(month FROM t AT TIME ZONE 'Asia/Shanghai') - 1)::smallint
        $$;
        CREATE TABLE case_count (
            unit bigint NOT NULL,
            community bigint NOT NULL,
            street bigint NOT NULL,
            district bigint NOT NULL,
            month smallint NOT NULL,
            class_code text NOT NULL,
            channel text NOT NULL,
            state text NOT NULL,
            n integer NOT NULL,
            PRIMARY KEY (unit, community, street, district, month, class_code, channel, state)
        );
        -- the same without class, channel and state: a third of the rows, for the unfiltered counts
        CREATE TABLE case_count_total (
            unit bigint NOT NULL,
            community bigint NOT NULL,
            street bigint NOT NULL,
            district bigint NOT NULL,
            month smallint NOT NULL,
            n integer NOT NULL,
            PRIMARY KEY (unit, community, street, district, month)
        );
        """
    )
    for event, table, body in (
        ("INSERT", "NEW TABLE AS new_rows", UPSERT.format(rows=_rows("new_rows", 1))),
        ("DELETE", "OLD TABLE AS old_rows", UPSERT.format(rows=_rows("old_rows", -1))),
        (
            "UPDATE",
            "OLD TABLE AS old_rows NEW TABLE AS new_rows",
            UPSERT.format(rows=_rows("old_rows", -1) + " UNION ALL " + _rows("new_rows", 1)),
        ),
    ):
        name = f"case_count_{event.lower()}"
        op.execute(
            f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {body};
                RETURN NULL;
            END $$;
            CREATE TRIGGER {name} AFTER {event} ON "case" REFERENCING {table}
                FOR EACH STATEMENT EXECUTE FUNCTION {name}();
            """
        )
    op.execute(
        """
        CREATE FUNCTION case_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            TRUNCATE case_count, case_count_total;
            RETURN NULL;
        END $$;
        CREATE TRIGGER case_count_truncate AFTER TRUNCATE ON "case"
            FOR EACH STATEMENT EXECUTE FUNCTION case_count_truncate();
        CREATE INDEX case_reported ON "case" (reported_at);
        ALTER TABLE grid ADD COLUMN label geometry(Point, 4490) GENERATED ALWAYS AS (ST_PointOnSurface(geom)) STORED;
        """
    )
    # in month order: a period's rows are together (later months are appended as they come)
    op.execute(
        f"""INSERT INTO case_count ({COLUMNS}, n)
            SELECT {DIMS}, count(*) FROM "case" c GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 5, 1"""
    )
    op.execute(
        f"INSERT INTO case_count_total ({TOTAL}, n) SELECT {TOTAL}, sum(n) FROM case_count GROUP BY 1, 2, 3, 4, 5 ORDER BY 5, 1"
    )
    # a period's months; a street's or community's rows (a region, a tile's cells further out)
    for table in ("case_count", "case_count_total"):
        for column in ("month", "community", "street"):
            op.execute(f"CREATE INDEX {table}_{column} ON {table} ({column})")
    op.execute("ANALYZE case_count")
    op.execute("ANALYZE case_count_total")


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE grid DROP COLUMN label;
        DROP INDEX case_reported;
        DROP TRIGGER case_count_truncate ON "case";
        DROP TRIGGER case_count_insert ON "case";
        DROP TRIGGER case_count_delete ON "case";
        DROP TRIGGER case_count_update ON "case";
        DROP FUNCTION case_count_truncate(), case_count_insert(), case_count_delete(), case_count_update();
        DROP TABLE case_count, case_count_total;
        DROP FUNCTION wangge_month(timestamptz);
        """
    )
