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


def update_unit(conn: Connection, code: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change a unit's name, kind or area of jurisdiction. Does not commit."""
    get_unit(conn, code)
    _only(changes, ("name", "kind", "area_code"))
    if "name" in changes and not (changes["name"] or "").strip():
        raise InvalidInput("name must not be empty", field="name")
    if "kind" in changes and changes["kind"] not in UNIT_KINDS:
        raise InvalidInput(f"unknown unit kind {changes['kind']!r}", field="kind", allowed=list(UNIT_KINDS))
    if "area_code" in changes:
        changes = {**changes, "area_code": _area(changes["area_code"])}
    _update(conn, "resp_unit", code, changes)
    return get_unit(conn, code)


def delete_unit(conn: Connection, code: str) -> None:
    """Remove a unit nothing refers to; a unit named by a case, rule or component is refused (409)."""
    get_unit(conn, code)
    try:
        with conn.begin_nested():
            conn.execute(text("DELETE FROM resp_unit WHERE code = :c"), {"c": code})
    except IntegrityError:
        raise Conflict(f"unit {code} is named by cases, rules or components, which keep it", field="code") from None


def _only(changes: dict[str, Any], editable: tuple[str, ...]) -> None:
    unknown = sorted(set(changes) - set(editable))
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(unknown)}", field=unknown[0], allowed=list(editable))


def _update(conn: Connection, table: str, code: str, changes: dict[str, Any], extra: str = "") -> None:
    # column names come from the callers' fixed lists of editable fields, values are bound
    sets = [f"{c} = :{c}" for c in changes] + ([extra] if extra else [])
    if sets:
        conn.execute(text(f"UPDATE {table} SET {', '.join(sets)} WHERE code = :code_"), {**changes, "code_": code})


# --- event classes ----------------------------------------------------------------------------
TIME_UNITS = ("working_hours", "working_days", "natural_days")
URGENCIES = ("normal", "urgent", "critical")


def _check_class(fields: dict[str, Any]) -> None:
    if "time_limit" in fields and not (isinstance(fields["time_limit"], int | float) and fields["time_limit"] > 0):
        raise InvalidInput("time_limit must be a positive number", field="time_limit")
    if "time_unit" in fields and fields["time_unit"] not in TIME_UNITS:
        raise InvalidInput(f"unknown time unit {fields['time_unit']!r}", field="time_unit", allowed=list(TIME_UNITS))
    if "urgency" in fields and fields["urgency"] not in URGENCIES:
        raise InvalidInput(f"unknown urgency {fields['urgency']!r}", field="urgency", allowed=list(URGENCIES))
    for f in ("major_name", "minor_name"):
        if f in fields and not (fields[f] or "").strip():
            raise InvalidInput(f"{f} must not be empty", field=f)


def get_event_class(conn: Connection, code: str) -> dict[str, Any]:
    row = conn.execute(text("SELECT * FROM event_class WHERE code = :c"), {"c": code}).mappings().first()
    if row is None:
        raise NotFound(f"no event class {code}", field="code")
    return dict(row)


def create_event_class(
    conn: Connection,
    *,
    code: str,
    major_name: str,
    minor_name: str,
    time_limit: float,
    time_unit: str,
    urgency: str = "normal",
) -> dict[str, Any]:
    """Add an event class (4 digits: 2 major + 2 minor). Does not commit."""
    if not re.match(r"^[0-9]{4}$", code or ""):
        raise InvalidInput(f"bad event class code {code!r}", field="code", allowed="4 digits")
    fields = {
        "major_name": major_name,
        "minor_name": minor_name,
        "time_limit": time_limit,
        "time_unit": time_unit,
        "urgency": urgency,
    }
    _check_class(fields)
    try:
        with conn.begin_nested():
            conn.execute(
                text(
                    """INSERT INTO event_class (code, major_name, minor_name, time_limit, time_unit, urgency)
                       VALUES (:code, :major_name, :minor_name, :time_limit, :time_unit, :urgency)"""
                ),
                {"code": code, **fields},
            )
    except IntegrityError:
        raise Conflict(f"event class {code} exists", field="code") from None
    return get_event_class(conn, code)


def update_event_class(conn: Connection, code: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change an event class's names, time limit or urgency; cases already taken in keep their
    deadline. Does not commit."""
    get_event_class(conn, code)
    _only(changes, ("major_name", "minor_name", "time_limit", "time_unit", "urgency"))
    _check_class(changes)
    _update(conn, "event_class", code, changes)
    return get_event_class(conn, code)


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


COMPONENT_EDITABLE = ("name", "owner_unit", "manager_unit", "maintainer_unit", "state", "attrs")


def update_component(conn: Connection, code: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change a component's name, units, state or attributes; ``changed_at`` records when. A case
    about it from now on goes to its new owner (or maintainer). Does not commit."""
    get_component(conn, code)
    _only(changes, COMPONENT_EDITABLE)
    for field in ("owner_unit", "manager_unit", "maintainer_unit"):
        unit = changes.get(field)
        if (
            unit is not None
            and conn.execute(text("SELECT 1 FROM resp_unit WHERE code = :u"), {"u": unit}).scalar() is None
        ):
            raise InvalidInput(f"unknown unit {unit!r}", field=field)
    if "state" in changes and not (changes["state"] or "").strip():
        raise InvalidInput("state must not be empty", field="state")
    values = dict(changes)
    if "attrs" in values:
        if not isinstance(values["attrs"], dict):
            raise InvalidInput("attrs must be an object", field="attrs")
        values["attrs"] = json.dumps(values["attrs"], ensure_ascii=False)
    sets = [f"{c} = CAST(:{c} AS jsonb)" if c == "attrs" else f"{c} = :{c}" for c in values]
    conn.execute(
        text(f"UPDATE component SET {', '.join(sets + ['changed_at = now()'])} WHERE code = :code_"),
        {**values, "code_": code},
    )
    return get_component(conn, code)
