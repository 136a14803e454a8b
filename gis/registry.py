"""Responsible units (责任单位), dispatch rules (派遣规则) and city components (部件).

Functions take a connection and never commit.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gis.crs import geoms_to_storage, parse_crs
from gis.errors import Conflict, InvalidInput, NotFound
from gis.lookup import lookup_points

UNIT_KINDS = (
    "district_government",
    "street_government",
    "community_committee",
    "urban_management",
    "municipal",
    "water",
    "power",
    "gas",
    "telecom",
    "transport",
    "greening",
    "sanitation",
    "police",
    "other",
)
AREA_CODE = re.compile(r"^[0-9]{6}([0-9]{3}){0,3}$")


def _area(value: str | None, field: str = "area_code") -> str | None:
    if value is None or value == "":
        return None
    if not AREA_CODE.match(value):
        raise InvalidInput(f"bad grid code {value!r}", field=field, allowed="a grid code of 6, 9, 12 or 15 digits")
    return value


# --- units ------------------------------------------------------------------------------------
def create_unit(conn: Connection, *, code: str, name: str, kind: str, area_code: str | None = None) -> dict[str, Any]:
    if kind not in UNIT_KINDS:
        raise InvalidInput(f"unknown unit kind {kind!r}", field="kind", allowed=list(UNIT_KINDS))
    if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", code or ""):
        raise InvalidInput(f"bad unit code {code!r}", field="code", allowed="1-64 letters, digits, _ . -")
    try:
        with conn.begin_nested():
            conn.execute(
                text("INSERT INTO resp_unit (code, name, kind, area_code) VALUES (:c, :n, :k, :a)"),
                {"c": code, "n": name, "k": kind, "a": _area(area_code)},
            )
    except IntegrityError:
        raise Conflict(f"unit {code} exists", field="code") from None
    return get_unit(conn, code)


def get_unit(conn: Connection, code: str) -> dict[str, Any]:
    row = (
        conn.execute(text("SELECT code, name, kind, area_code, created_at FROM resp_unit WHERE code = :c"), {"c": code})
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no unit {code}", field="code")
    return dict(row)


def list_units(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(text("SELECT code, name, kind, area_code, created_at FROM resp_unit ORDER BY code"))
    return [dict(r) for r in rows.mappings()]


# --- dispatch rules ---------------------------------------------------------------------------
def create_rule(
    conn: Connection,
    *,
    class_code: str,
    area_code: str,
    unit_code: str,
    start_time: time | None = None,
    end_time: time | None = None,
    valid_from: datetime | None = None,
) -> dict[str, Any]:
    """A rule maps (event or component class, area, optional daily time window) to a unit.

    ``class_code`` is an event class (``0402``), a major class (``0400``: every minor class of 04)
    or a component class; ``area_code`` a grid code at any level.
    """
    if not re.match(r"^[0-9]{4}$", class_code or ""):
        raise InvalidInput(f"bad class code {class_code!r}", field="class_code", allowed="4 digits, e.g. 0402 or 0400")
    known = conn.execute(
        text(
            "SELECT 1 FROM event_class WHERE code = :c OR left(code, 2) || '00' = :c "
            "UNION ALL SELECT 1 FROM component_class WHERE code = :c"
        ),
        {"c": class_code},
    ).first()
    if known is None:
        raise InvalidInput(f"unknown class {class_code!r}", field="class_code")
    if (start_time is None) != (end_time is None):
        raise InvalidInput("give both start_time and end_time, or neither", field="start_time")
    get_unit(conn, unit_code)
    rid = conn.execute(
        text(
            """INSERT INTO dispatch_rule (class_code, area_code, unit_code, start_time, end_time, valid_from)
           VALUES (:c, :a, :u, :s, :e, :vf) RETURNING id"""
        ),
        {
            "c": class_code,
            "a": _area(area_code),
            "u": unit_code,
            "s": start_time,
            "e": end_time,
            "vf": valid_from or datetime.now(UTC),
        },
    ).scalar_one()
    return get_rule(conn, rid)


def get_rule(conn: Connection, rule_id: int) -> dict[str, Any]:
    row = conn.execute(text("SELECT * FROM dispatch_rule WHERE id = :id"), {"id": rule_id}).mappings().first()
    if row is None:
        raise NotFound(f"no rule {rule_id}", field="id")
    return dict(row)


def list_rules(conn: Connection, at: datetime | None = None) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            "SELECT * FROM dispatch_rule WHERE valid_from <= :at AND (valid_to IS NULL OR valid_to > :at) ORDER BY id"
        ),
        {"at": at or datetime.now(UTC)},
    )
    return [dict(r) for r in rows.mappings()]


def retire_rule(conn: Connection, rule_id: int, at: datetime | None = None) -> dict[str, Any]:
    """Close a rule's validity (rules are versioned: past cases keep their explanation)."""
    rule = get_rule(conn, rule_id)
    if rule["valid_to"] is not None:
        raise Conflict(f"rule {rule_id} was retired at {rule['valid_to'].isoformat()}", field="id")
    conn.execute(
        text("UPDATE dispatch_rule SET valid_to = :t WHERE id = :id"), {"t": at or datetime.now(UTC), "id": rule_id}
    )
    return get_rule(conn, rule_id)


# --- components -------------------------------------------------------------------------------
def create_component(
    conn: Connection,
    *,
    code: str,
    geometry: dict[str, Any],
    crs: str = "EPSG:4490",
    name: str = "",
    owner_unit: str | None = None,
    manager_unit: str | None = None,
    maintainer_unit: str | None = None,
    state: str = "normal",
    attrs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store a component (GB/T 30428.2 code: 6 county + 2 major + 2 minor + 6 serial) with its grid chain."""
    if not re.match(r"^[0-9]{16}$", code or ""):
        raise InvalidInput(f"bad component code {code!r}", field="code", allowed="16 digits")
    if conn.execute(text("SELECT 1 FROM component_class WHERE code = :c"), {"c": code[6:10]}).scalar() is None:
        allowed = list(conn.execute(text("SELECT code FROM component_class ORDER BY code")).scalars())
        raise InvalidInput(f"unknown component class {code[6:10]!r} in the code", field="code", allowed=allowed)
    for field, unit in (
        ("owner_unit", owner_unit),
        ("manager_unit", manager_unit),
        ("maintainer_unit", maintainer_unit),
    ):
        if (
            unit is not None
            and conn.execute(text("SELECT 1 FROM resp_unit WHERE code = :u"), {"u": unit}).scalar() is None
        ):
            raise InvalidInput(f"unknown unit {unit!r}", field=field)
    try:
        geom = shapely.geometry.shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError):
        raise InvalidInput("geometry is not GeoJSON", field="geometry") from None
    if geom.is_empty or not geom.is_valid:
        raise InvalidInput(f"invalid geometry: {shapely.is_valid_reason(geom)}", field="geometry")
    geom = geoms_to_storage([geom], parse_crs(crs))[0]
    anchor = geom if geom.geom_type == "Point" else shapely.point_on_surface(geom)
    hit = lookup_points(conn, [anchor.x], [anchor.y])[0]
    chain = {lv: (hit[lv]["code"] if hit[lv] else None) for lv in ("district", "street", "community", "unit")}
    try:
        with conn.begin_nested():
            conn.execute(
                text(
                    """INSERT INTO component (code, class_code, name, geom, owner_unit, manager_unit, maintainer_unit,
                                          state, district_code, street_code, community_code, grid_code, attrs)
                   VALUES (:code, :cls, :name, ST_GeomFromWKB(:wkb, 4490), :o, :m, :mt, :s, :d, :st, :c, :g,
                           CAST(:attrs AS jsonb))"""
                ),
                {
                    "code": code,
                    "cls": code[6:10],
                    "name": name,
                    "wkb": shapely.to_wkb(geom),
                    "o": owner_unit,
                    "m": manager_unit,
                    "mt": maintainer_unit,
                    "s": state,
                    "d": chain["district"],
                    "st": chain["street"],
                    "c": chain["community"],
                    "g": chain["unit"],
                    "attrs": json.dumps(attrs or {}, ensure_ascii=False),
                },
            )
    except IntegrityError:
        raise Conflict(f"component {code} exists", field="code") from None
    return get_component(conn, code)


def get_component(conn: Connection, code: str) -> dict[str, Any]:
    row = (
        conn.execute(
            text(
                """SELECT code, class_code, name, ST_AsGeoJSON(geom, 7, 0)::json AS geometry, owner_unit, manager_unit,
                  maintainer_unit, state, recorded_at, changed_at, district_code, street_code, community_code,
                  grid_code, attrs FROM component WHERE code = :c"""
            ),
            {"c": code},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no component {code}", field="code")
    return dict(row)
