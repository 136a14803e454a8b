"""Statistics and overdue lists over cases."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal
from gis.cases.intake import case_scope
from gis.errors import InvalidInput
from gis.statements import load

#: group name → column expression (fixed text: the user chooses a key, never SQL)
GROUPS = {
    "unit_grid": "c.unit_grid_code",
    "community": "c.community_code",
    "street": "c.street_code",
    "district": "c.district_code",
    "resp_unit": "c.resp_unit",
}


@cache
def _rate(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def statistics(
    conn: Connection, *, by: str, start: datetime, end: datetime, who: Principal | None = None
) -> list[dict[str, Any]]:
    """Counts by state and class, 结案率, 按期结案率, 返工率 and average handling time per group."""
    if by not in GROUPS:
        raise InvalidInput(f"unknown grouping {by!r}", field="by", allowed=list(GROUPS))
    if end <= start:
        raise InvalidInput("the period ends before it starts", field="to")
    scope, params = case_scope(who, "stats:read")
    rows = conn.execute(
        text(load("case_stats").format(group=GROUPS[by], scope=scope)), {"from": start, "to": end, **params}
    ).mappings()
    out = []
    for r in rows:
        d = dict(r)
        d[by] = d.pop("grp")
        d["closure_rate"] = _rate(d["closed"], d["total"])  # 结案率
        d["on_time_rate"] = _rate(d["closed_on_time"], d["due"])  # 按期结案率
        d["rework_rate"] = _rate(d["reworked"], d["due"])  # 返工率
        d["avg_handling_hours"] = None if d["avg_handling_hours"] is None else float(d["avg_handling_hours"])
        out.append(d)
    return out


def overdue(
    conn: Connection, *, by: str, at: datetime | None = None, who: Principal | None = None
) -> list[dict[str, Any]]:
    """Open cases past their deadline, grouped by responsible unit or by unit grid."""
    column = {"resp_unit": "resp_unit", "unit_grid": "unit_grid_code"}.get(by)
    scope, params = case_scope(who, "stats:read")
    if column is None:
        raise InvalidInput(f"unknown grouping {by!r}", field="by", allowed=["resp_unit", "unit_grid"])
    rows = conn.execute(
        text(
            f"""SELECT {column} AS grp, count(*) AS overdue,
                   jsonb_agg(jsonb_build_object('id', id, 'deadline', deadline, 'state', state,
                                                'class_code', class_code) ORDER BY deadline) AS cases
            FROM "case" c WHERE state <> 'closed' AND deadline < :at AND {scope}
            GROUP BY {column} ORDER BY count(*) DESC, {column}"""
        ),
        {"at": at or datetime.now(UTC), **params},
    ).mappings()
    return [{by: r["grp"], "overdue": r["overdue"], "cases": r["cases"]} for r in rows]
