"""Dispatch rules (派遣规则): which responsible unit takes which class of case where (and when),
versioned: a retired rule stays on record so past cases keep their explanation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.errors import Conflict, InvalidInput, NotFound
from gis.grids.hierarchy import check_area
from gis.registry.units import get_unit


# --- dispatch rules ---------------------------------------------------------------------------
def create_rule(
    conn: Connection,
    *,
    class_code: str,
    area_code: str,
    resp_unit: str,
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
    get_unit(conn, resp_unit)
    rid = conn.execute(
        text(
            """INSERT INTO dispatch_rule (class_code, area_code, resp_unit, start_time, end_time, valid_from)
           VALUES (:c, :a, :u, :s, :e, :vf) RETURNING id"""
        ),
        {
            "c": class_code,
            "a": check_area(area_code),
            "u": resp_unit,
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
        text("SELECT * FROM dispatch_rule WHERE wangge_valid(valid_from, valid_to, :at) ORDER BY id"),
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
