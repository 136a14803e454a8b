"""Listing cases: newest first, filtered, with the total."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal
from gis.cases.intake import _CASE_COLUMNS, CHANNELS, _shape, case_scope
from gis.cases.workflow import STATES
from gis.errors import InvalidInput
from gis.grids.hierarchy import CHAIN_COLUMN, check_area

#: ``state`` may also be ``open``: every state but closed
OPEN = "open"


def class_condition(alias: str, class_code: str) -> str:
    """``:cls``: a minor class, or a major one (``NN00``) for all of its minor classes."""
    if class_code.endswith("00"):
        return f"left({alias}.class_code, 2) = left(:cls, 2)"
    return f"{alias}.class_code = :cls"


def case_filters(
    who: Principal | None,
    *,
    state: str | None = None,
    resp_unit: str | None = None,
    grid: str | None = None,
    grid_field: str = "grid",
    class_code: str | None = None,
    channel: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    months: list[int] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """The WHERE conditions (on ``"case" c``) and bound values of the filters the case list, the
    heatmap and the case tiles share; the first is the caller's reach, which no filter widens.
    ``class_code``: a minor class, or a major class ``NN00`` for all of its minor ones; ``grid``: a
    grid code of any level; ``months``: a season (1-12, China time)."""
    if state is not None and state not in (*STATES, OPEN):
        raise InvalidInput(f"unknown state {state!r}", field="state", allowed=[*STATES, OPEN])
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r}", field="channel", allowed=list(CHANNELS))
    if months is not None and (not months or any(m < 1 or m > 12 for m in months)):
        raise InvalidInput("months are 1 to 12", field="months", allowed="e.g. 6,7,8 for summer")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("the period ends before it starts", field="to")
    scope, params = case_scope(who)
    where = [scope]
    if state == OPEN:
        where.append("c.state <> 'closed'")
    elif state:
        where.append("c.state = :state")
        params["state"] = state
    for column, value in (("resp_unit", resp_unit), ("channel", channel)):
        if value:
            where.append(f"c.{column} = :{column}")
            params[column] = value
    if grid:
        code = check_area(grid, grid_field)
        where.append(f"c.{CHAIN_COLUMN[len(code)]} = :grid")
        params["grid"] = code
    if class_code:
        where.append(class_condition("c", class_code))
        params["cls"] = class_code
    if start:
        where.append("c.reported_at >= :start")
        params["start"] = start
    if end:
        where.append("c.reported_at < :end")
        params["end"] = end
    if months:
        where.append("extract(month FROM c.reported_at AT TIME ZONE 'Asia/Shanghai')::int = ANY(:months)")
        params["months"] = sorted(set(months))
    if bbox:
        where.append("c.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)")
        params.update(dict(zip(("x0", "y0", "x1", "y1"), bbox, strict=True)))
    return where, params


def list_cases(
    conn: Connection,
    *,
    state: str | None = None,
    resp_unit: str | None = None,
    grid: str | None = None,
    class_code: str | None = None,
    channel: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 100,
    offset: int = 0,
    who: Principal | None = None,
) -> dict[str, Any]:
    """Cases, newest first, filtered by state, responsible unit, grid (any level, by code prefix),
    class (or major class ``NN00``), channel, report time and bounding box; with the total. Only
    the cases ``who`` reaches: no filter widens that."""
    where, params = case_filters(
        who, state=state, resp_unit=resp_unit, grid=grid, class_code=class_code, channel=channel, start=start, end=end,
        bbox=bbox,
    )  # fmt: skip
    params.update(l=limit, o=offset)
    cond = " AND ".join(where) or "true"
    total = conn.execute(text(f'SELECT count(*) FROM "case" c WHERE {cond}'), params).scalar_one()
    rows = conn.execute(
        text(
            f'SELECT {_CASE_COLUMNS} FROM "case" c WHERE {cond} ORDER BY c.reported_at DESC, c.id DESC LIMIT :l OFFSET :o'
        ),
        params,
    ).mappings()
    return {"total": total, "limit": limit, "offset": offset, "cases": [_shape(dict(r), who) for r in rows]}


#: a live map's cases: every open case, or what changed since its last poll (closed ones too, so it
#: can drop them); the scope is the caller's
_LIVE = """SELECT c.id, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.state,
       c.class_code, c.resp_unit, c.reported_at, c.deadline, c.updated_at,
       (c.state <> 'closed' AND c.deadline < now()) AS overdue
FROM "case" c
WHERE {scope} AND {changed}
ORDER BY c.id DESC
LIMIT :cap"""
LIVE_CAP = 20_000


def live_cases(conn: Connection, *, since: datetime | None = None, who: Principal | None = None) -> dict[str, Any]:
    """The open cases (or those changed after ``since``) as light rows for a map, with ``next_since``
    to ask with next time (the database's clock, a second back so a slow commit is not missed)."""
    scope, params = case_scope(who)
    changed = "c.state <> 'closed'" if since is None else "c.updated_at > :since"
    rows = conn.execute(
        text(_LIVE.format(scope=scope, changed=changed)), {**params, "since": since, "cap": LIVE_CAP}
    ).mappings()
    cases = [dict(r) for r in rows]
    next_since = conn.execute(text("SELECT statement_timestamp() - interval '1 second'")).scalar_one()
    return {"next_since": next_since, "complete": since is None, "truncated": len(cases) >= LIVE_CAP, "cases": cases}
