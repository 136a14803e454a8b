"""Bulk import of historical cases, assigned set-based inside PostGIS.

Every case gets the grid chain of the boundaries valid at its own ``reported_at`` and the
responsible unit of the rules in force then, by the same rules as one-by-one intake
(:mod:`gis.lookup`, ``gis/sql/case_assign.sql``), but computed with joins over the whole batch.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput
from gis.grids.assign import assign_unit_grids, choose_per_point
from gis.grids.bulk import morton_order

STAGE_COLUMNS = (
    "row_no",
    "x",
    "y",
    "class_code",
    "reported_at",
    "description",
    "channel",
    "state",
    "idempotency_key",
    "deadline",
    "contact_name",
    "contact_phone",
    "contact_email",
)

# The dispatch rule of migration 0013, as the intake applies it, over the whole batch at once.
RULES_SQL = """
CREATE UNLOGGED TABLE {s}_rule AS
SELECT DISTINCT ON (s.row_no) s.row_no, r.id AS rule_id, r.resp_unit, r.area_code, r.class_code
FROM {s} s
JOIN {s}_codes c USING (row_no)
JOIN dispatch_rule r
  ON wangge_rule_applies(r, s.class_code, c.district_code, c.street_code, c.community_code, c.unit_grid_code,
                         s.reported_at)
ORDER BY s.row_no, wangge_rule_rank(r, s.class_code)
"""

# One pass over the staged cases: chain, then rule, else street then district government (属地兜底).
# Each ``why`` is built once per rule or government and joined, not once per case (5 us a row).
INSERT_SQL = """
WITH gov AS (
    SELECT DISTINCT ON (kind, area_code) kind, area_code, code,
           wangge_why_government(kind, area_code) || '{{"warnings": []}}' AS why
    FROM resp_unit
    WHERE kind IN ('street_government', 'district_government') ORDER BY kind, area_code, code
), rule_why AS (
    SELECT id, wangge_why_rule(id, area_code, class_code) || '{{"warnings": []}}' AS why FROM dispatch_rule
), a AS (
    SELECT s.*, c.unit_grid_code, c.community_code, c.street_code, c.district_code,
           coalesce(r.resp_unit, sg.code, dg.code) AS resp_unit,
           coalesce(rw.why, sg.why, dg.why,
                    wangge_why_none(c.district_code IS NULL) || '{{"warnings": []}}') AS why
    FROM {s} s
    LEFT JOIN {s}_codes c USING (row_no)
    LEFT JOIN {s}_rule r USING (row_no)
    LEFT JOIN rule_why rw ON rw.id = r.rule_id
    LEFT JOIN gov sg ON sg.kind = 'street_government' AND sg.area_code = c.street_code
    LEFT JOIN gov dg ON dg.kind = 'district_government' AND dg.area_code = c.district_code
), ins AS (
    INSERT INTO "case" (idempotency_key, geom, class_code, description, channel, reported_at, district_code,
                        street_code, community_code, unit_grid_code, resp_unit, state, deadline, why,
                        contact_name, contact_phone, contact_email)
    SELECT idempotency_key, g, class_code, coalesce(description, ''), channel, reported_at, district_code,
           street_code, community_code, unit_grid_code, resp_unit,
           coalesce(state, CASE WHEN resp_unit IS NULL THEN 'received' ELSE 'dispatched' END), deadline, why,
           contact_name, contact_phone, contact_email
    FROM a ORDER BY reported_at
    {on_conflict}
    RETURNING id, state)
INSERT INTO case_event (case_id, actor, action, from_state, to_state, note, data)
SELECT id, :actor, 'import', NULL, state, '', CAST(:data AS jsonb) FROM ins
"""


def stage_cases(conn: Connection, table: pa.Table) -> str:
    """COPY the batch (storage-CRS x/y) into a scratch table in Morton order; returns its name."""
    name = f"wangge_cases_{uuid.uuid4().hex[:12]}"
    # the point is computed as the rows arrive (a generated column), not by rewriting the table after
    conn.execute(
        text(
            f"""CREATE UNLOGGED TABLE {name} (row_no int, x float8, y float8, class_code text,
              reported_at timestamptz, description text, channel text, state text, idempotency_key text,
              deadline timestamptz, contact_name text, contact_phone text, contact_email text,
              g geometry(Point, 4490) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(x, y), 4490)) STORED)"""
        )
    )
    order = morton_order(table["x"].to_numpy(), table["y"].to_numpy())
    staged = table.select(list(STAGE_COLUMNS)).take(pa.array(order))
    for i, f in enumerate(staged.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            staged = staged.set_column(i, f.name, _utc_text(staged[f.name]))
    buf = io.BytesIO()
    pacsv.write_csv(staged, buf, pacsv.WriteOptions(include_header=False))
    buf.seek(0)
    conn.connection.cursor().copy_expert(f"COPY {name} ({', '.join(STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buf)
    conn.execute(text(f"CREATE INDEX ON {name} USING gist (g)"))
    conn.execute(text(f"ANALYZE {name}"))
    return name


def _utc_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Instants as text with an explicit UTC offset. Arrow's CSV writer converts every value of a
    zoned timestamp through the time zone database: 11 s for 4,000,000 values; this takes 1 s."""
    naive = pc.cast(column, pa.timestamp("us"))  # the same instants, written as UTC wall time
    return pc.binary_join_element_wise(pc.cast(naive, pa.string()), pa.scalar("+00"), "")


def assign_staged(conn: Connection, s: str) -> None:
    """Grid chain (boundaries valid at each case's time) and rule matches, into side tables.

    Nothing is updated in place: rewriting millions of staged rows costs far more than building
    side tables and joining them once in :func:`write_cases`.
    """
    # the chain: the unit grid's code from the join itself (its prefixes are the upper levels);
    # the upper codes are filled only for cases in no unit grid, below
    assign_unit_grids(
        conn, s, f"{s}_chain", id_column="row_no", geom_column="g", time_column="reported_at", with_code=True
    )
    conn.execute(
        text(
            f"""ALTER TABLE {s}_chain RENAME COLUMN id TO row_no;
            ALTER TABLE {s}_chain RENAME COLUMN code TO unit_grid_code;
            ALTER TABLE {s}_chain DROP COLUMN grid_id, ADD COLUMN community_code text,
              ADD COLUMN street_code text, ADD COLUMN district_code text;
            CREATE VIEW {s}_codes AS SELECT row_no, unit_grid_code,
              coalesce(community_code, left(unit_grid_code, 12)) AS community_code,
              coalesce(street_code, left(unit_grid_code, 9)) AS street_code,
              coalesce(district_code, left(unit_grid_code, 6)) AS district_code
            FROM {s}_chain"""
        )
    )
    # cases in no unit grid: the per-point rule over the upper levels, driven from each point (few)
    conn.execute(
        text(
            f"""CREATE TEMP TABLE {s}_rest ON COMMIT DROP AS
            SELECT s.row_no, s.g, s.reported_at FROM {s} s
            WHERE NOT EXISTS (SELECT 1 FROM {s}_chain c WHERE c.row_no = s.row_no)"""
        )
    )
    per = choose_per_point(conn, f"{s}_rest", id_column="row_no", geom_column="g", time_column="reported_at")
    upper = []
    for row_no, c in per.items():
        upper.append(
            {"r": row_no, **{k: (c[lv].code if lv in c else None) for k, lv in (("d", 1), ("s", 2), ("c", 3))}}
        )
    if upper:
        conn.execute(
            text(f"INSERT INTO {s}_chain (row_no, community_code, street_code, district_code) VALUES (:r, :c, :s, :d)"),
            upper,
        )
    conn.execute(text(f"ANALYZE {s}_chain"))
    conn.execute(text(RULES_SQL.format(s=s)))
    conn.execute(text(f"ANALYZE {s}_rule"))  # often few rows: hash them, not the cases


def _foreign_keys_dropped(conn: Connection, s: str) -> list[str]:
    """For a load that rebuilds the case indexes (so already holds ``case`` and ``case_event``
    exclusively): check the batch's class codes once, then drop the foreign keys of ``case`` and
    ``case_event``; returns the statements that add them back after the load, each checked there by
    one set-based join instead of a trigger per row (the triggers cost about half of the insert).
    Needs no superuser, unlike ``session_replication_role``. Dropping a key also locks the table it
    references (``event_class``, ``resp_unit``) until commit; a rollback brings the keys back."""
    unknown = (
        conn.execute(
            text(f"SELECT DISTINCT class_code FROM {s} WHERE class_code NOT IN (SELECT code FROM event_class)")
        )
        .scalars()
        .all()
    )
    if unknown:
        raise InvalidInput(f"unknown event class(es) {', '.join(unknown)}", field="class")
    keys = conn.execute(
        text(
            """SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint
               WHERE contype = 'f' AND conrelid IN ('"case"'::regclass, 'case_event'::regclass)
               ORDER BY conrelid, conname"""
        )
    ).all()
    for table, name, _ in keys:
        conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
    return [f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}" for table, name, definition in keys]


def write_cases(conn: Connection, s: str, actor: str, source: str, indexes: str = "auto") -> dict[str, Any]:
    """Insert the staged cases (skipping idempotency keys already stored) with an ``import`` event each;
    ``indexes``: see :func:`_rebuild_indexes`."""
    total = conn.execute(text(f"SELECT count(*) FROM {s}")).scalar_one()
    rebuild = _rebuild_indexes(conn, total, indexes)
    rebuilt = _drop_secondary_indexes(conn) if rebuild else []
    # a smaller load into a fuller table keeps its keys: their triggers check it row by row
    keys = _foreign_keys_dropped(conn, s) if rebuild else []
    if rebuild:
        _empty_tables_renewed(conn)
    # keys already stored are skipped; with none in the batch there is nothing to skip
    keyed = conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {s} WHERE idempotency_key IS NOT NULL)")).scalar()
    sql = INSERT_SQL.format(s=s, on_conflict="ON CONFLICT (idempotency_key) DO NOTHING" if keyed else "")
    t0 = time.perf_counter()
    inserted = conn.execute(text(sql), {"actor": actor, "data": json.dumps({"source": source})}).rowcount
    t1 = time.perf_counter()
    if rebuilt:
        conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        for definition in rebuilt:
            conn.execute(text(definition))
    t2 = time.perf_counter()
    # units come from dispatch_rule and resp_unit, cases' ids from this insert: checked here, once
    for statement in keys:
        conn.execute(text(statement))
    conn.execute(text(f"DROP VIEW {s}_codes; DROP TABLE {s}, {s}_chain, {s}_rule"))
    return {
        "written": inserted,
        "skipped_existing": total - inserted,
        "indexes_rebuilt": len(rebuilt),
        "write_s": {
            "insert": round(t1 - t0, 2),
            "indexes": round(t2 - t1, 2),
            "keys": round(time.perf_counter() - t2, 2),
        },
    }


def _rebuild_indexes(conn: Connection, incoming: int, indexes: str) -> bool:
    """Whether to build the secondary indexes of ``case`` and ``case_event`` after the load
    instead of inserting into them row by row: ``auto`` does when the load is at least as large
    as the table (a first historical load: one sorted build per index instead of millions of
    random inserts). Dropping an index holds the table against other writers until commit."""
    if indexes not in ("auto", "rebuild", "keep"):
        raise InvalidInput(f"unknown indexes mode {indexes!r}", field="indexes", allowed=["auto", "rebuild", "keep"])
    if indexes != "auto":
        return indexes == "rebuild"
    stored = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = '\"case\"'::regclass")).scalar_one()
    if stored < 0:  # never analysed
        stored = conn.execute(text('SELECT count(*) FROM "case"')).scalar_one()
    return incoming >= stored


def _empty_tables_renewed(conn: Connection) -> bool:
    """With ``case`` and ``case_event`` both empty (a first historical load), TRUNCATE them: nothing
    is lost, but the load then fills new files, which PostgreSQL with ``wal_level = minimal`` (the
    embedded cluster) writes without WAL and syncs at commit. Called with the tables' indexes
    dropped, so the lock is already exclusive."""
    empty = conn.execute(
        text(
            """SELECT NOT EXISTS (SELECT FROM "case") AND NOT EXISTS (SELECT FROM case_event)
                  AND NOT EXISTS (SELECT FROM pg_constraint  -- a table TRUNCATE would have to include
                                  WHERE confrelid IN ('"case"'::regclass, 'case_event'::regclass)
                                    AND conrelid NOT IN ('"case"'::regclass, 'case_event'::regclass))"""
        )
    )
    if not empty.scalar():
        return False
    conn.execute(text('TRUNCATE "case", case_event'))
    return True


def _drop_secondary_indexes(conn: Connection) -> list[str]:
    """Drop the indexes of ``case`` and ``case_event`` that back no constraint (keys, uniqueness
    and the idempotency key stay); returns their definitions. Rolled back with the import."""
    rows = conn.execute(
        text(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
               WHERE i.indrelid IN ('"case"'::regclass, 'case_event'::regclass)
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
               ORDER BY 1"""
        )
    ).all()
    for name, _ in rows:
        conn.execute(text(f"DROP INDEX {name}"))
    return [definition for _, definition in rows]


def deadline_inputs(conn: Connection, class_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time limit and unit per row, from the event classes."""
    classes = {
        r[0]: (float(r[1]), r[2])
        for r in conn.execute(text("SELECT code, time_limit, time_unit FROM event_class")).all()
    }
    uniq, inv = np.unique(class_codes.astype(str), return_inverse=True)
    limits = np.array([classes[c][0] for c in uniq], dtype=float)[inv]
    units = np.array([classes[c][1] for c in uniq], dtype=object)[inv]
    return limits, units
