"""Cases of grids that ended within an analysis's period, counted again by location.

An analysis runs on the grids in force at the period's end. A case keeps the grid codes it was
assigned when it was reported; when a grid of the analysed level was redrawn, split, merged or
retired within the period, its cases may lie outside the grid of that code at the period's end, or
hold a code no longer in force. So every case of the period that holds the code of a grid with a
version ending within the period is counted again by location, in the grid (of the lattice's
boundary version) holding its point by the lookup's one rule (``wangge_grid_chain``: interior
first, the lowest code on a shared edge); a case that no grid holds any more is reported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal
from gis.cases.query import case_filters
from gis.grids.hierarchy import CHAIN_COLUMN, CODE_LENGTH

# codes of the level with a version that ended within the period (redrawn, split, merged, retired)
_CHANGED = """SELECT DISTINCT g.code FROM grid g
WHERE g.level = :level AND g.valid_to > :since AND g.valid_to <= :at
  AND (CAST(:region AS text) IS NULL OR starts_with(g.code, :region))"""

_CHAIN = {1: "district", 2: "street", 3: "community", 4: "unit_grid"}  # wangge_grid_chain's columns
_MONTH = "wangge_month(c.reported_at)"  # (the kept counts' month number, migration 0017)


def changed_codes(conn: Connection, level: int, since: datetime, at: datetime, region: str | None) -> list[str]:
    """The grid codes of ``level`` (inside ``region``) with a version that ended within the period."""
    rows = conn.execute(text(_CHANGED), {"level": level, "since": since, "at": at, "region": region}).scalars()
    return sorted(rows)


def relocated(
    conn: Connection,
    *,
    level: int,
    at: datetime,
    since: datetime,
    until: datetime,
    by_month: bool = False,
    who: Principal | None = None,
    **filters: Any,
) -> dict[str, Any]:
    """The cases of the period holding a changed grid's code, counted again where they lie:
    ``moves`` {(stored code, code at ``at`` or None): n} (keys with the month number last, with
    ``by_month``) for the caller to take from the first and add to the second; ``from`` (the
    changed codes), ``cases`` (counted again) and ``unplaced`` (covered by no grid of the level in
    force at ``at``). ``filters`` are the case list's (class_code, channel, state, months, grid)."""
    region = filters.get("grid")
    gone = changed_codes(conn, level, since, at, region)
    out: dict[str, Any] = {"moves": {}, "from": gone, "cases": 0, "unplaced": 0}
    if not gone:
        return out
    where, params = case_filters(who, start=since, end=until, grid_field="region", **filters)
    column = f"c.{CHAIN_COLUMN[CODE_LENGTH[level]]}"
    where.append(f"{column} = ANY(:gone)")
    # (the one point-in-grid rule, as at intake: interior first, then the lowest code on a shared edge)
    key = f"{column}, ch.{_CHAIN[level]}, {_MONTH}" if by_month else f"{column}, ch.{_CHAIN[level]}"
    sql = f"""SELECT {key}, count(*) FROM "case" c
        LEFT JOIN LATERAL wangge_grid_chain(c.geom, :at) ch ON true
        WHERE {" AND ".join(where)} GROUP BY {key}"""
    params.update({"gone": gone, "at": at})
    for row in conn.execute(text(sql), params).all():
        out["moves"][tuple(row[:-1])] = row[-1]
        out["cases"] += row[-1]
        out["unplaced"] += row[-1] if row[1] is None else 0
    return out


def apply(counts: dict, moves: dict) -> None:
    """Take each move's cases from its stored code and give them to the code where they lie
    (keys of ``counts`` as the moves': a code, or (code, month))."""
    for (old, new, *month), n in moves.items():
        source = (old, *month) if month else old
        counts[source] = counts.get(source, 0) - n
        if new is not None:
            target = (new, *month) if month else new
            counts[target] = counts.get(target, 0) + n
