"""A collection's features, filtered and paged, as GeoJSON built by PostGIS.

Pages are keyset pages on the collection's key (``cursor`` = the last key of the page before), so
rows added meanwhile never shift a page; grids' pages are also pinned to one instant (the ``next``
link carries it), so a redraw between two pages does not mix boundary versions. Each feature's
geometry and properties come out of PostGIS as JSON text and are put into the answer as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from gis.access.principal import Principal, area_condition
from gis.cases.intake import CASE_SCOPE, case_scope
from gis.dates import parse_at
from gis.db import sqlstate
from gis.errors import InvalidInput, NotFound
from gis.ogc import cql
from gis.ogc.collections import Collection
from gis.ogc.crs import OutputCrs
from gis.settings import STORAGE_SRID

MAX_LIMIT = 10_000
#: null transformations from the storage CRS (PROJ treats CGCS2000 → WGS 84 as one): no ST_Transform
_SAME = {STORAGE_SRID, 4326}


@dataclass(frozen=True)
class Query:
    """What an items request asks, checked: the time (an instant, or an interval with open ends
    as None), the bounding box (in ``bbox_crs``), the CQL2 filter, the page."""

    crs: OutputCrs
    bbox: tuple[float, float, float, float] | None = None
    bbox_crs: OutputCrs | None = None
    instant: datetime | None = None
    interval: tuple[datetime | None, datetime | None] | None = None
    filter: str | None = None
    filter_lang: str | None = None
    filter_crs: OutputCrs | None = None
    limit: int = 10
    cursor: str | None = None
    equal: tuple[tuple[str, str], ...] = ()  # queryables given as query parameters: equalities


def _geometry(c: Collection, crs: OutputCrs) -> str:
    g = c.geometry if crs.srid in _SAME else f"ST_Transform({c.geometry}, {crs.srid})"
    if crs.swap:
        g = f"ST_FlipCoordinates({g})"
    digits = 9 if crs.srid in _SAME else 4
    return f"ST_AsGeoJSON({g}, {digits}, 0)"  # (0: no "crs" member, which RFC 7946 does not have)


def _properties(c: Collection, personal: str) -> str:
    pairs = []
    for p in c.props:
        value = p.sql
        if p.name in c.personal:
            value = f"CASE WHEN {personal} THEN {p.sql} END"
        pairs.append(f"'{p.name}', {value}")
    return f"json_build_object({', '.join(pairs)})::text"


def _scope(c: Collection, who: Principal | None) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    """The rows the caller reaches, and the condition under which a row's personal fields show."""
    if c.id == "cases":
        where, params = ("FALSE", {}) if who is None else case_scope(who)
        if who is None:  # (an anonymous reader: cases are never public, and never with callers)
            return where, params, "FALSE", {}
        personal, pp = area_condition(who, "personal:read", CASE_SCOPE, prefix="pp")
        return where, params, personal, pp
    if who is None:  # (an anonymous reader of a public collection)
        return "TRUE", {}, "FALSE", {}
    where, params = area_condition(who, c.permission, c.scope)
    return where, params, "FALSE", {}


def conditions(
    conn_time: datetime, c: Collection, q: Query, who: Principal | None
) -> tuple[list[str], dict, str, dict]:
    """The WHERE conditions of a request (without the page), their values, and the personal-data
    condition."""
    where = list(c.conditions)
    params: dict[str, Any] = dict(c.params)
    scope, sp, personal, pp = _scope(c, who)
    where.append(scope)
    params.update(sp)
    if c.temporal == "validity":
        if q.interval is not None:
            start, end = q.interval
            if end is not None:
                where.append("g.valid_from <= :t_end")
                params["t_end"] = end
            if start is not None:
                where.append("(g.valid_to IS NULL OR g.valid_to > :t_start)")
                params["t_start"] = start
        else:
            where.append("wangge_valid(g.valid_from, g.valid_to, :t_at)")
            params["t_at"] = q.instant or conn_time
    elif c.temporal == "instant" and c.time_sql:
        if q.instant is not None:
            where.append(f"{c.time_sql} = :t_at")
            params["t_at"] = q.instant
        elif q.interval is not None:
            start, end = q.interval
            if start is not None:
                where.append(f"{c.time_sql} >= :t_start")
                params["t_start"] = start
            if end is not None:
                where.append(f"{c.time_sql} <= :t_end")
                params["t_end"] = end
    if q.bbox is not None:
        box_crs = q.bbox_crs or _crs84()  # (a bbox is CRS84 unless bbox-crs says otherwise)
        x1, y1, x2, y2 = q.bbox
        if box_crs.swap:
            x1, y1, x2, y2 = y1, x1, y2, x2
        if x1 > x2 or y1 > y2:
            raise InvalidInput("bbox: the lower corner comes first", field="bbox", allowed="minx,miny,maxx,maxy")
        env = f"ST_MakeEnvelope(:b_x1, :b_y1, :b_x2, :b_y2, {box_crs.srid})"
        if box_crs.srid != STORAGE_SRID:
            env = f"ST_Transform({env}, {STORAGE_SRID})"
        where.append(f"({c.geometry} && {env} AND ST_Intersects({c.geometry}, {env}))")
        params.update({"b_x1": x1, "b_y1": y1, "b_x2": x2, "b_y2": y2})
    hidden_personal = personal == "FALSE"
    # a personal field reads as null where the caller may not see it: a filter on it cannot find
    # (nor count) the cases outside the caller's personal-data areas
    masked = {} if personal == "TRUE" else {n: f"(CASE WHEN {personal} THEN {c.prop(n).sql} END)" for n in c.personal}
    for n, (name, value) in enumerate(q.equal):
        prop = c.prop(name)
        if prop is None or (hidden_personal and name in c.personal):
            raise InvalidInput(f"unknown query parameter {name!r}", field=name)
        expr = masked.get(name, prop.sql)
        where.append(f"{expr} = CAST(:eq{n} AS {_SQL_TYPE.get(prop.format or prop.type, 'text')})")
        params[f"eq{n}"] = _typed(prop.format or prop.type, name, value)
    if q.filter:
        hidden = frozenset(c.personal) if personal == "FALSE" else frozenset()
        sql, fp = cql.condition(c, q.filter, q.filter_lang, q.filter_crs or _crs84(), hidden, masked)
        where.append(sql)
        params.update(fp)
    return where, params, personal, pp


_SQL_TYPE = {"integer": "bigint", "number": "double precision", "date-time": "timestamptz", "boolean": "boolean"}


def _typed(kind: str, name: str, value: str) -> Any:
    """A query parameter's value as its queryable's type (a 400 naming it when it is not one)."""
    if "\x00" in value:
        raise InvalidInput(f"{name} holds a NUL character", field=name)
    try:
        if kind == "integer":
            if not re.fullmatch(r"-?[0-9]{1,18}", value):
                raise ValueError(value)
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "date-time":
            return parse_at(value, name)
        if kind == "boolean":
            return {"true": True, "false": False}[value.lower()]
    except (ValueError, KeyError):
        raise InvalidInput(f"{name} is {kind}: {value!r} is not", field=name, allowed=kind) from None
    return value


def _crs84() -> OutputCrs:
    from gis.ogc.crs import parse

    return parse(None)


def _key(c: Collection, cursor: str | None) -> Any:
    if cursor is None:
        return None
    if "\x00" in cursor:
        raise InvalidInput("cursor: the value of a next link", field="cursor")
    if c.key_type == "bigint":
        if not re.fullmatch(r"[0-9]{1,18}", cursor):
            raise InvalidInput("cursor: the value of a next link", field="cursor")
        return int(cursor)
    return cursor


#: what a client's filter can make PostgreSQL refuse besides data exceptions (class 22): an
#: operator or function for the types compared (42883, 42725), a datatype mismatch (42804), and
#: PostGIS's errors (XX000: an invalid geometry, a point outside a projection's domain)
_CLIENT_STATES = frozenset({"42883", "42725", "42804", "XX000"})


def _run(conn: Connection, sql: str, params: dict[str, Any], q: Query) -> Any:
    """A statement built from the client's filter, bbox and parameters: what PostgreSQL or PostGIS
    refuses in it (a text compared with a number, a point outside a Gauss-Krüger zone, a division by
    zero) is a 400 naming the part of the request it came from, never a 500."""
    try:
        return conn.execute(text(sql), params)
    except DBAPIError as exc:
        state = sqlstate(exc) or ""
        if not (state.startswith("22") or state in _CLIENT_STATES):
            raise  # (a fault of the statement itself, not of what the client sent: a 500, logged)
        primary = getattr(getattr(exc.orig, "diag", None), "message_primary", None) or "the query cannot be evaluated"
        field = "filter" if q.filter else q.equal[0][0] if q.equal else "bbox" if q.bbox else "datetime"
        raise InvalidInput(f"{field}: {primary}", field=field) from None


def items(conn: Connection, c: Collection, q: Query, who: Principal | None) -> dict[str, Any]:
    """One page: ``features`` (a list of GeoJSON Feature texts), ``matched``, ``next`` (the cursor
    of the next page, or None) and ``at`` (the instant grids were read at, for the next link)."""
    if not 1 <= q.limit <= MAX_LIMIT:
        raise InvalidInput(f"limit is 1 to {MAX_LIMIT}", field="limit", allowed=f"1-{MAX_LIMIT}")
    now = conn.execute(text("SELECT now()")).scalar_one()
    where, params, personal, pp = conditions(now, c, q, who)
    params.update(pp)
    matched = _run(conn, f"SELECT count(*) FROM {c.source} WHERE {' AND '.join(where)}", params, q).scalar_one()
    key = _key(c, q.cursor)
    page_where = list(where)
    if key is not None:
        page_where.append(f"{c.key_sql} > :cursor")
        params["cursor"] = key
    id_sql = c.id_sql
    if c.temporal == "validity" and q.interval is not None:  # (versions: a code may come more than once)
        id_sql = f"""{c.id_sql} || '@' || to_char(g.valid_from AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"')"""
    sql = f"""SELECT {c.key_sql}, {id_sql}, {_geometry(c, q.crs)}, {_properties(c, personal)}
        FROM {c.source} WHERE {" AND ".join(page_where)} ORDER BY {c.key_sql} LIMIT :limit"""
    params["limit"] = q.limit + 1
    rows = _run(conn, sql, params, q).all()
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    features = [_feature(fid, geom, props) for _, fid, geom, props in rows]
    return {
        "features": features,
        "matched": matched,
        "next": str(rows[-1][0]) if more and rows else None,
        "at": params.get("t_at") if q.instant is None and q.interval is None else None,
    }


def _feature(fid: str, geom: str | None, props: str) -> bytes:
    return (
        b'{"type":"Feature","id":' + orjson.dumps(fid) + b',"geometry":' + (geom.encode() if geom else b"null")
        + b',"properties":' + props.encode() + b"}"
    )  # fmt: skip


def item(conn: Connection, c: Collection, feature_id: str, q: Query, who: Principal | None) -> bytes:
    """One feature by its id (a grid's code at ``q.instant`` or now; ``code@YYYYMMDDTHHMMSSZ`` for
    the version that began then); NotFound outside the caller's reach as for one that does not exist."""
    now = conn.execute(text("SELECT now()")).scalar_one()
    version = None
    if c.temporal == "validity" and "@" in feature_id:
        feature_id, stamp = feature_id.split("@", 1)
        try:
            version = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise NotFound(f"no feature {feature_id}@{stamp} in {c.id}", field="featureId") from None
        q = Query(crs=q.crs, interval=(None, None))
    where, params, personal, pp = conditions(now, c, Query(crs=q.crs, instant=q.instant, interval=q.interval), who)
    params.update(pp)
    if c.id_sql == f"{c.key_sql}::text":  # (by the key itself: an index lookup, not a scan of id::text)
        if not re.fullmatch(r"[0-9]{1,18}", feature_id):
            raise NotFound(f"no feature {feature_id} in {c.id}", field="featureId")
        where.append(f"{c.key_sql} = :fid")
        params["fid"] = int(feature_id)
    else:
        where.append(f"{c.id_sql} = :fid")
        params["fid"] = feature_id
    if version is not None:
        where.append("date_trunc('second', g.valid_from) = :version")
        params["version"] = version
    row = _run(
        conn,
        f"""SELECT {c.id_sql}, {_geometry(c, q.crs)}, {_properties(c, personal)} FROM {c.source}
            WHERE {" AND ".join(where)} ORDER BY {c.key_sql} DESC LIMIT 1""",
        params,
        q,
    ).first()
    if row is None:
        raise NotFound(f"no feature {feature_id} in {c.id}", field="featureId")
    fid = feature_id if version is None else f"{feature_id}@{version:%Y%m%dT%H%M%SZ}"
    return _feature(fid, row[1], row[2])


_EXTENT = """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
FROM (SELECT ST_Extent(geom) AS e FROM grid WHERE level = 1 AND valid_to IS NULL) x"""


def extent(conn: Connection) -> list[float] | None:
    """The city's bounding box (its districts in force), CRS84: every collection lies inside it."""
    row = conn.execute(text(_EXTENT)).one()
    return None if row[0] is None else [round(float(v), 6) for v in row]
