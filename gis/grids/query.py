"""Reading grids as GeoJSON, built in SQL so large pages do not pass through Python objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.grids.versions import valid_at
from gis.statements import UNSCOPED, Scope, feature_page

FEATURE = """json_build_object(
    'type', 'Feature', 'id', g.code,
    'geometry', ST_AsGeoJSON(g.geom, 7, 0)::json,
    'properties', json_build_object(
        'code', g.code, 'name', g.name,
        'level', (ARRAY['district','street','community','unit_grid'])[g.level],
        'parent_code', g.parent_code, 'area_m2', round(g.area_m2::numeric, 1),
        'resp_unit_name', g.resp_unit_name, 'resp_person', g.resp_person, 'resp_phone', g.resp_phone,
        'attrs', g.attrs, 'valid_from', g.valid_from, 'valid_to', g.valid_to))::text"""


def build_list_query(
    *,
    level: int | None,
    parent: str | None,
    bbox: tuple[float, float, float, float] | None,
    scope: str = "TRUE",
) -> tuple[str, str]:
    """The WHERE clause for a grid listing; values are bound by the caller (pure, testable).

    >>> build_list_query(level=2, parent=None, bbox=None)[0]
    'wangge_valid(g.valid_from, g.valid_to, :at) AND g.level = :level'
    """
    where = [valid_at("g")]
    if level is not None:
        where.append("g.level = :level")
    if parent is not None:
        where.append("g.parent_code = :parent")
    if bbox is not None:
        where.append("g.geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490)")
    if scope != "TRUE":
        where.append(scope)
    w = " AND ".join(where)
    return w, f"SELECT {FEATURE} FROM grid g WHERE {w} ORDER BY g.code LIMIT :limit OFFSET :offset"


def list_grid_features(
    conn: Connection,
    *,
    level: int | None = None,
    parent: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    at: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    scope: Scope = UNSCOPED,
) -> tuple[str, int, int]:
    """Comma-joined GeoJSON features, the number matched and the number returned (inside ``scope``)."""
    where, query = build_list_query(level=level, parent=parent, bbox=bbox, scope=scope[0])
    params: dict[str, Any] = {
        **scope[1],
        "at": at or datetime.now(UTC),
        "level": level,
        "parent": parent,
        "limit": limit,
        "offset": offset,
    }
    return feature_page(conn, "grid g", where, query, params, bbox)


def get_grid_feature(conn: Connection, code: str, at: datetime | None = None, scope: Scope = UNSCOPED) -> str | None:
    return conn.execute(
        text(f"SELECT {FEATURE} FROM grid g WHERE g.code = :code AND {valid_at('g')} AND {scope[0]}"),
        {"code": code, "at": at or datetime.now(UTC), **scope[1]},
    ).scalar_one_or_none()


def grid_versions(conn: Connection, code: str, scope: Scope = UNSCOPED) -> str:
    """Every version of a grid, oldest first, as a FeatureCollection's features; each says which
    import or redraw wrote it (``source``)."""
    return ",".join(
        conn.execute(
            text(
                f"""SELECT jsonb_set({FEATURE}::jsonb, '{{properties,source}}', to_jsonb(r.source))::text
                FROM grid g LEFT JOIN import_run r ON r.id = g.import_id
                WHERE g.code = :code AND {scope[0]} ORDER BY g.valid_from"""
            ),
            {"code": code, **scope[1]},
        ).scalars()
    )


#: names drawn on a map at high zoom: at most this many per request
LABEL_CAP = 2000


def grid_labels(
    conn: Connection,
    *,
    level: int,
    bbox: tuple[float, float, float, float] | None = None,
    scope: Scope = UNSCOPED,
) -> list[dict[str, Any]]:
    """The current grids of ``level`` in ``bbox`` as ``{code, name, lon, lat}`` at their label
    points (a point on the surface, stored with the grid), for a map to write their names."""
    where = ["g.level = :level", "wangge_valid(g.valid_from, g.valid_to, now())", scope[0]]
    params: dict[str, Any] = {**scope[1], "level": level, "cap": LABEL_CAP}
    if bbox:
        where.append(
            "g.label && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490) AND g.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)"
        )
        params.update(dict(zip(("x0", "y0", "x1", "y1"), bbox, strict=True)))
    rows = conn.execute(
        text(
            f"""SELECT g.code, g.name, round(ST_X(g.label)::numeric, 7)::float8 AS lon,
                       round(ST_Y(g.label)::numeric, 7)::float8 AS lat
                FROM grid g WHERE {" AND ".join(where)} ORDER BY g.code LIMIT :cap"""
        ),
        params,
    ).mappings()
    return [dict(r) for r in rows]
