"""Writing and reading grid versions. Functions take a connection and never commit.

Every boundary write goes through :func:`stage_rows` → checks → :func:`write_versions`, which also
rewrites the subdivided lookup pieces in the same transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.errors import Conflict
from gis.settings import STORAGE_SRID

#: Vertices per lookup piece: big district polygons are cut, unit grids stay whole.
SUBDIVIDE_VERTICES = 128

#: Geometries closer than this (degrees, about 1 mm) count as unchanged on re-import.
SAME_GEOMETRY_DEG = 1e-8

VALID_AT = "wangge_valid({t}.valid_from, {t}.valid_to, :at)"


def valid_at(alias: str) -> str:
    """SQL condition: the version of ``alias`` in force at ``:at``."""
    return VALID_AT.format(t=alias)


@dataclass
class StagedRow:
    row: int
    code: str | None
    name: str
    parent_code: str | None
    geom: shapely.Geometry
    attrs: dict[str, Any] = field(default_factory=dict)
    resp_unit_name: str | None = None
    resp_person: str | None = None
    resp_phone: str | None = None


def stage_rows(conn: Connection, rows: Iterable[StagedRow]) -> int:
    """COPY rows into a temporary ``stage`` table (dropped at the end of the transaction)."""
    conn.execute(
        text(
            f"""CREATE TEMP TABLE stage (
              row_no int PRIMARY KEY, code text, name text, parent_code text,
              resp_unit_name text, resp_person text, resp_phone text, attrs jsonb,
              geom geometry(MultiPolygon, {STORAGE_SRID})
            ) ON COMMIT DROP"""
        )
    )
    buf = io.StringIO()
    writer = csv.writer(buf)
    n = 0
    for r in rows:
        geom = r.geom
        if geom.geom_type == "Polygon":
            geom = shapely.MultiPolygon([geom])
        wkb = shapely.to_wkb(shapely.set_srid(geom, STORAGE_SRID), hex=True, include_srid=True)
        writer.writerow(
            [
                r.row,
                r.code,
                r.name,
                r.parent_code,
                r.resp_unit_name,
                r.resp_person,
                r.resp_phone,
                json.dumps(r.attrs, ensure_ascii=False, default=str),
                wkb,
            ]
        )
        n += 1
    buf.seek(0)
    cur = conn.connection.cursor()
    cur.copy_expert(
        "COPY stage (row_no, code, name, parent_code, resp_unit_name, resp_person, resp_phone, attrs, geom) "
        "FROM STDIN WITH (FORMAT csv)",
        buf,
    )
    conn.execute(text("ANALYZE stage"))
    return n


def find_missing_parents(conn: Connection, level: int, at: datetime) -> list[dict[str, Any]]:
    """Rows whose parent code names no grid of the level above at ``at``."""
    rows = conn.execute(
        text(
            f"""SELECT s.row_no, s.code, s.parent_code FROM stage s
            WHERE s.parent_code IS NOT NULL AND NOT EXISTS (
              SELECT 1 FROM grid g WHERE g.code = s.parent_code AND g.level = :plevel AND {valid_at("g")})
            ORDER BY s.row_no"""
        ),
        {"plevel": level - 1, "at": at},
    ).mappings()
    return [dict(r) for r in rows]


def assign_spatial_parents(conn: Connection, level: int, at: datetime) -> list[int]:
    """Give rows without a parent code the parent they overlap most. Returns rows left without one."""
    conn.execute(
        text(
            f"""UPDATE stage s SET parent_code = best.code FROM (
              SELECT DISTINCT ON (s.row_no) s.row_no, p.code
              FROM stage s JOIN grid_piece p
                ON p.level = :plevel AND {valid_at("p")} AND ST_Intersects(p.geom, s.geom)
              WHERE s.parent_code IS NULL
              GROUP BY s.row_no, p.code
              ORDER BY s.row_no, sum(ST_Area(ST_Intersection(p.geom, s.geom))) DESC, p.code
            ) best
            WHERE best.row_no = s.row_no"""
        ),
        {"plevel": level - 1, "at": at},
    )
    return list(conn.execute(text("SELECT row_no FROM stage WHERE parent_code IS NULL ORDER BY row_no")).scalars())


def find_outside_parent(conn: Connection, at: datetime, tolerance_m: float) -> list[dict[str, Any]]:
    """Rows lying outside their parent by more than ``tolerance_m`` (as an average band along their edge)."""
    rows = conn.execute(
        text(
            f"""SELECT s.row_no, s.code, s.parent_code,
                   round((a.child_m2 - a.inside_m2)::numeric, 1) AS outside_m2
            FROM stage s CROSS JOIN LATERAL (
              SELECT ST_Area(s.geom::geography) AS child_m2,
                     ST_Perimeter(s.geom::geography) AS perimeter_m,
                     coalesce((SELECT sum(ST_Area(ST_Intersection(p.geom, s.geom)::geography))
                               FROM grid_piece p
                               WHERE p.code = s.parent_code AND {valid_at("p")}
                                 AND ST_Intersects(p.geom, s.geom)), 0) AS inside_m2
            ) a
            WHERE s.parent_code IS NOT NULL AND a.child_m2 - a.inside_m2 > :tol * a.perimeter_m
              AND EXISTS (SELECT 1 FROM grid_piece p WHERE p.code = s.parent_code AND {valid_at("p")})
            ORDER BY s.row_no"""
        ),
        {"at": at, "tol": tolerance_m},
    ).mappings()
    return [dict(r) for r in rows]


def generate_unit_codes(conn: Connection) -> list[dict[str, Any]]:
    """Number unit grids inside each community west→east, then north→south (GB/T 30428.1).

    Rows are banded by the latitude of a point on their surface (band height: half the median
    grid size), bands taken north to south, grids within a band west to east.
    """
    conn.execute(
        text(
            """WITH c AS (
              SELECT row_no, parent_code, ST_PointOnSurface(geom) AS pt FROM stage WHERE code IS NULL),
            band AS (
              SELECT greatest(percentile_cont(0.5) WITHIN GROUP (ORDER BY sqrt(ST_Area(geom))) / 2, 1e-9) AS h
              FROM stage WHERE code IS NULL),
            ordered AS (
              SELECT c.row_no, c.parent_code,
                     row_number() OVER (PARTITION BY c.parent_code
                                        ORDER BY floor(ST_Y(c.pt) / band.h) DESC, ST_X(c.pt), c.row_no) AS n
              FROM c, band)
            UPDATE stage s SET code = o.parent_code || lpad(o.n::text, 3, '0')
            FROM ordered o WHERE o.row_no = s.row_no AND o.n <= 999"""
        )
    )
    rows = conn.execute(text("SELECT row_no, parent_code FROM stage WHERE code IS NULL ORDER BY row_no")).mappings()
    return [dict(r) for r in rows]


def find_bad_versions(conn: Connection, valid_from: datetime) -> list[dict[str, Any]]:
    """Changed rows whose current version started at or after ``valid_from``: history cannot be
    rewritten. Unchanged rows are fine (re-running an import is harmless). After compare_versions."""
    rows = conn.execute(
        text(
            """SELECT s.row_no, s.code, g.valid_from FROM stage s
           JOIN stage_change c USING (row_no)
           JOIN grid g ON g.id = c.old_id
           WHERE NOT c.unchanged AND g.valid_from >= :vf ORDER BY s.row_no"""
        ),
        {"vf": valid_from},
    ).mappings()
    return [dict(r) for r in rows]


def compare_versions(conn: Connection) -> None:
    """Mark each staged row as new, changed or unchanged against the current version (``stage_change``)."""
    conn.execute(
        text(
            """CREATE TEMP TABLE stage_change ON COMMIT DROP AS
           SELECT s.row_no, s.code, g.id AS old_id,
                  (g.id IS NOT NULL AND (ST_OrderingEquals(g.geom, s.geom)
                        -- a file written out and read back differs in the last float digits only
                        OR (ST_NPoints(g.geom) = ST_NPoints(s.geom)
                            AND ST_HausdorffDistance(g.geom, s.geom) < :same_deg))
                   AND g.name = coalesce(s.name, '') AND g.parent_code IS NOT DISTINCT FROM s.parent_code
                   AND g.attrs = coalesce(s.attrs, '{}') AND g.resp_unit_name IS NOT DISTINCT FROM s.resp_unit_name
                   AND g.resp_person IS NOT DISTINCT FROM s.resp_person
                   AND g.resp_phone IS NOT DISTINCT FROM s.resp_phone) AS unchanged
           FROM stage s LEFT JOIN grid g ON g.code = s.code AND g.valid_to IS NULL"""
        ),
        {"same_deg": SAME_GEOMETRY_DEG},
    )


def write_versions(conn: Connection, level: int, valid_from: datetime, import_id: int) -> dict[str, int]:
    """Close changed current versions, insert new ones, and rewrite their lookup pieces (after compare_versions)."""
    conn.execute(
        text(
            """WITH c AS (
             UPDATE grid g SET valid_to = :vf FROM stage_change c
             WHERE g.id = c.old_id AND NOT c.unchanged RETURNING g.id)
           UPDATE grid_piece p SET valid_to = :vf FROM c WHERE p.grid_id = c.id RETURNING p.grid_id"""
        ),
        {"vf": valid_from},
    )
    closed = conn.execute(
        text("SELECT count(*) FROM stage_change WHERE old_id IS NOT NULL AND NOT unchanged")
    ).scalar_one()
    written = conn.execute(
        text(
            """INSERT INTO grid (code, level, name, parent_code, geom, area_m2, resp_unit_name, resp_person, resp_phone,
                             attrs, valid_from, import_id)
           SELECT s.code, :level, coalesce(s.name, ''), s.parent_code, s.geom, ST_Area(s.geom::geography),
                  s.resp_unit_name, s.resp_person, s.resp_phone, coalesce(s.attrs, '{}'), :vf, :import_id
           FROM stage s JOIN stage_change c USING (row_no)
           WHERE NOT c.unchanged
           ORDER BY s.row_no"""
        ),
        {"level": level, "vf": valid_from, "import_id": import_id},
    ).rowcount
    conn.execute(
        text(
            f"""INSERT INTO grid_piece (grid_id, level, code, valid_from, valid_to, geom)
            SELECT id, level, code, valid_from, valid_to,
                   (ST_Dump(ST_Subdivide(geom, {SUBDIVIDE_VERTICES}))).geom
            FROM grid WHERE import_id = :import_id"""
        ),
        {"import_id": import_id},
    )
    unchanged = conn.execute(text("SELECT count(*) FROM stage_change WHERE unchanged")).scalar_one()
    return {"written": written, "closed": closed, "unchanged": unchanged}


def check_retired(conn: Connection, codes: list[str], valid_from: datetime) -> list[tuple[str, str]]:
    """Why each grid to retire cannot be: not current, staged too, started after ``valid_from``,
    or with current children (they would lose their parent)."""
    if not codes:
        return []
    found = {
        r.code: r
        for r in conn.execute(
            text(
                """SELECT g.code, g.valid_from,
                          (SELECT count(*) FROM grid k WHERE k.parent_code = g.code AND k.valid_to IS NULL) AS children,
                          EXISTS (SELECT FROM stage s WHERE s.code = g.code) AS staged
                   FROM grid g WHERE g.code = ANY(:c) AND g.valid_to IS NULL"""
            ),
            {"c": codes},
        )
    }
    out = []
    for code in codes:
        r = found.get(code)
        if r is None:
            out.append((code, f"{code} is not a current grid"))
        elif r.staged:
            out.append((code, f"{code} is both written and retired"))
        elif r.valid_from >= valid_from:
            out.append((code, f"{code}'s current version starts {r.valid_from.isoformat()}, not before valid_from"))
        elif r.children:
            out.append((code, f"{code} has {r.children} current child grids: move them first"))
    return out


def retire(conn: Connection, codes: list[str], valid_from: datetime) -> int:
    """Close the current versions of ``codes`` (and their lookup pieces) at ``valid_from``."""
    if not codes:
        return 0
    ids = (
        conn.execute(
            text("UPDATE grid SET valid_to = :vf WHERE code = ANY(:c) AND valid_to IS NULL RETURNING id"),
            {"vf": valid_from, "c": codes},
        )
        .scalars()
        .all()
    )
    conn.execute(text("UPDATE grid_piece SET valid_to = :vf WHERE grid_id = ANY(:ids)"), {"vf": valid_from, "ids": ids})
    return len(ids)


def find_outside_areas(conn: Connection, areas: list[str], tolerance_m: float = 10.0) -> list[dict[str, Any]]:
    """Staged rows lying outside the union of ``areas`` (the writer's grids) by more than a band
    of ``tolerance_m`` along their edge: a grid admin writes inside their area, whatever the
    tolerance they give the parent check."""
    if not areas:
        return [dict(r) for r in conn.execute(text("SELECT row_no, code, 0 AS outside_m2 FROM stage")).mappings()]
    rows = conn.execute(
        text(
            """WITH a AS (SELECT ST_Union(geom) AS g FROM grid
                         WHERE code = ANY(:areas) AND wangge_valid(valid_from, valid_to, now()))
               SELECT s.row_no, s.code, coalesce(ST_Area(ST_Difference(s.geom, a.g)::geography), ST_Area(s.geom::geography))
                      AS outside_m2
               FROM stage s, a
               WHERE a.g IS NULL OR (NOT ST_CoveredBy(s.geom, ST_Buffer(a.g, :tol / 111320.0, 'join=mitre'))
                 AND ST_Area(ST_Difference(s.geom, a.g)::geography) > :tol * ST_Perimeter(s.geom::geography))
               ORDER BY s.row_no"""
        ),
        {"areas": areas, "tol": tolerance_m},
    ).mappings()
    return [dict(r) for r in rows]


def taken_codes(conn: Connection, codes: list[str]) -> list[str]:
    """Of the codes an import gives for the first time, those some grid has (had) meanwhile. The
    lock on each parent makes a concurrent split or new grid under it wait for this one."""
    if not codes:
        return []
    for parent in sorted({c[:-3] for c in codes}):
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('wangge-codes:' || :p))"), {"p": parent})
    return list(
        conn.execute(text("SELECT DISTINCT code FROM grid WHERE code = ANY(:c) ORDER BY code"), {"c": codes}).scalars()
    )


def references(conn: Connection, code: str) -> list[str]:
    """What still names a retired grid: gridworkers assigned to it, dispatch rules in force for it."""
    workers = (
        conn.execute(text("SELECT worker_id FROM worker_grid WHERE grid_code = :c ORDER BY 1"), {"c": code})
        .scalars()
        .all()
    )
    rules = (
        conn.execute(
            text("SELECT id FROM dispatch_rule WHERE area_code = :c AND valid_to IS NULL ORDER BY 1"), {"c": code}
        )
        .scalars()
        .all()
    )
    out = []
    if workers:
        out.append(f"{code} is retired but gridworkers {', '.join(workers)} are still assigned to it")
    if rules:
        out.append(f"{code} is retired but dispatch rules {', '.join(map(str, rules))} still name it")
    return out


def next_codes(conn: Connection, parent: str, n: int) -> list[str]:
    """The next ``n`` free codes under ``parent`` by the standard numbering (three digits after the
    parent's code, counting on from the highest ever used: a retired code is not given again)."""
    used = conn.execute(
        text("SELECT max(right(code, 3)::int) FROM grid WHERE starts_with(code, :p) AND length(code) = :len"),
        {"p": parent, "len": len(parent) + 3},
    ).scalar()
    first = (used or 0) + 1
    if first + n - 1 > 999:
        raise Conflict(f"no free code under {parent}: 999 are used", field="code")
    return [f"{parent}{k:03d}" for k in range(first, first + n)]


def new_import_run(conn: Connection, kind: str, level: int | None, source: str) -> int:
    return conn.execute(
        text("INSERT INTO import_run (kind, level, source) VALUES (:k, :l, :s) RETURNING id"),
        {"k": kind, "l": level, "s": source},
    ).scalar_one()


def finish_import_run(conn: Connection, import_id: int, report: dict[str, Any]) -> None:
    conn.execute(
        text("UPDATE import_run SET report = CAST(:r AS jsonb) WHERE id = :id"),
        {"r": json.dumps(report, ensure_ascii=False, default=str), "id": import_id},
    )


def json_safe(value: Any) -> Any:
    """Make a property value JSON-serialisable (numpy scalars, NaN, timestamps); missing is None.

    >>> [json_safe(v) for v in (float("nan"), pd.NA, pd.NaT, np.int64(3), "a")]
    [None, None, None, 3, 'a']
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if value != value else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, int | str):
        return value
    return str(value)
