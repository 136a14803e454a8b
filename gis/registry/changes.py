"""Changing a registry row: only the editable fields, values bound."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput


def only_editable(changes: dict[str, Any], editable: tuple[str, ...]) -> None:
    unknown = sorted(set(changes) - set(editable))
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(unknown)}", field=unknown[0], allowed=list(editable))


def update_by_code(conn: Connection, table: str, code: str, changes: dict[str, Any], extra: str = "") -> None:
    # column names come from the callers' fixed lists of editable fields, values are bound
    sets = [f"{c} = :{c}" for c in changes] + ([extra] if extra else [])
    if sets:
        conn.execute(text(f"UPDATE {table} SET {', '.join(sets)} WHERE code = :code_"), {**changes, "code_": code})
