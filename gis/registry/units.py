"""Responsible units (责任单位): the bodies cases are dispatched to."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gis.errors import Conflict, InvalidInput, NotFound
from gis.grids.hierarchy import check_area
from gis.registry.changes import only_editable, update_by_code

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
                {"c": code, "n": name, "k": kind, "a": check_area(area_code)},
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
    only_editable(changes, ("name", "kind", "area_code"))
    if "name" in changes and not (changes["name"] or "").strip():
        raise InvalidInput("name must not be empty", field="name")
    if "kind" in changes and changes["kind"] not in UNIT_KINDS:
        raise InvalidInput(f"unknown unit kind {changes['kind']!r}", field="kind", allowed=list(UNIT_KINDS))
    if "area_code" in changes:
        changes = {**changes, "area_code": check_area(changes["area_code"])}
    update_by_code(conn, "resp_unit", code, changes)
    return get_unit(conn, code)


def delete_unit(conn: Connection, code: str) -> None:
    """Remove a unit nothing refers to; a unit named by a case, rule or component is refused (409)."""
    get_unit(conn, code)
    try:
        with conn.begin_nested():
            conn.execute(text("DELETE FROM resp_unit WHERE code = :c"), {"c": code})
    except IntegrityError:
        raise Conflict(f"unit {code} is named by cases, rules or components, which keep it", field="code") from None
