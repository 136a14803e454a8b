"""Event classes: the kinds of case, each with its time limit (and so its deadline)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gis.errors import Conflict, InvalidInput, NotFound
from gis.registry.changes import only_editable, update_by_code

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
    only_editable(changes, ("major_name", "minor_name", "time_limit", "time_unit", "urgency"))
    _check_class(changes)
    update_by_code(conn, "event_class", code, changes)
    return get_event_class(conn, code)
