"""Case counts per grid for the heatmap: one level of the grid tree, any period, a season (a set
of months, China time), event class (minor, or major ``NN00``), channel, state and region; and
the same counts for a comparison period (同比: a year earlier; 环比: the period just before).

Counts are absolute and the class breaks fixed (:data:`BREAKS`), so a count has the same colour
in every view, season and district; a difference map uses :data:`DIFF_BREAKS`. Aggregated in
PostgreSQL: millions of cases never travel.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal
from gis.cases.query import case_filters
from gis.errors import InvalidInput
from gis.grids.hierarchy import CHAIN_COLUMN

LEVELS = {"district": 6, "street": 9, "community": 12, "unit_grid": 15}
#: the fixed class breaks of the choropleth (a count's class is the last break it reaches)
BREAKS = (1, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
DIFF_BREAKS = (-500, -200, -100, -50, -20, -5, 5, 20, 50, 100, 200, 500)
COMPARE = ("yoy", "prev")

_COUNTS = """SELECT c.{column} AS code, count(*) AS n
FROM "case" c
WHERE {where}
GROUP BY 1"""

_SERIES = """SELECT to_char(c.reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month, count(*) AS n
FROM "case" c WHERE {where} GROUP BY 1 ORDER BY 1"""

_TOP = """SELECT c.class_code, k.minor_name, count(*) AS n
FROM "case" c JOIN event_class k ON k.code = c.class_code
WHERE {where} GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 10"""


def _filters(
    who: Principal | None,
    since: datetime,
    until: datetime,
    months: list[int] | None,
    class_code: str | None,
    channel: str | None,
    state: str | None,
    region: str | None,
) -> tuple[list[str], dict[str, Any]]:
    return case_filters(
        who, start=since, end=until, months=months, class_code=class_code, channel=channel, state=state, grid=region,
        grid_field="region",
    )  # fmt: skip


def base_period(since: datetime, until: datetime, compare: str) -> tuple[datetime, datetime]:
    """The comparison period: a year earlier (同比) or the period just before (环比)."""
    if compare == "yoy":
        return since.replace(year=since.year - 1), until.replace(year=until.year - 1)
    return since - (until - since), since


def heat(
    conn: Connection,
    *,
    level: str,
    since: datetime,
    until: datetime,
    months: list[int] | None = None,
    class_code: str | None = None,
    channel: str | None = None,
    state: str | None = None,
    region: str | None = None,
    compare: str | None = None,
    who: Principal | None = None,
) -> dict[str, Any]:
    """Counts per grid of ``level`` (and per grid in the comparison period when ``compare``)."""
    if level not in LEVELS:
        raise InvalidInput(f"unknown level {level!r}", field="level", allowed=list(LEVELS))
    if compare is not None and compare not in COMPARE:
        raise InvalidInput(f"unknown comparison {compare!r}", field="compare", allowed=list(COMPARE))
    column = CHAIN_COLUMN[LEVELS[level]]

    def counts(a: datetime, b: datetime) -> dict[str, int]:
        where, params = _filters(who, a, b, months, class_code, channel, state, region)
        where.append(f"c.{column} IS NOT NULL")
        sql = _COUNTS.format(column=column, where=" AND ".join(where))
        return {code: n for code, n in conn.execute(text(sql), params).all()}

    now = counts(since, until)
    out: dict[str, Any] = {"level": level, "breaks": list(BREAKS), "total": sum(now.values())}
    if compare:
        a, b = base_period(since, until, compare)
        before = counts(a, b)
        out.update(compare=compare, base_from=a, base_to=b, base_total=sum(before.values()), breaks=list(DIFF_BREAKS))
        codes = sorted(set(now) | set(before))
        out["groups"] = [
            {"code": c, "count": now.get(c, 0), "base": before.get(c, 0), "diff": now.get(c, 0) - before.get(c, 0)}
            for c in codes
        ]
    else:
        out["groups"] = [{"code": c, "count": n} for c, n in sorted(now.items())]
    return out


def grid_series(
    conn: Connection,
    code: str,
    *,
    since: datetime,
    until: datetime,
    months: list[int] | None = None,
    class_code: str | None = None,
    channel: str | None = None,
    state: str | None = None,
    who: Principal | None = None,
) -> dict[str, Any]:
    """One grid's counts per month and its top event classes under the same filters."""
    where, params = _filters(who, since, until, months, class_code, channel, state, code)
    condition = " AND ".join(where)
    series = [{"month": m, "count": n} for m, n in conn.execute(text(_SERIES.format(where=condition)), params).all()]
    top = [
        {"class": c, "name": name, "count": n}
        for c, name, n in conn.execute(text(_TOP.format(where=condition)), params).all()
    ]
    return {"code": code, "months": series, "top_classes": top}


def default_period(now: datetime) -> tuple[datetime, datetime]:
    """The last twelve months up to tomorrow."""
    return now - timedelta(days=365), now + timedelta(days=1)
