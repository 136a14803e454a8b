"""Case counts per grid for the heatmap: one level of the grid tree, any period, a season (a set
of months, China time), event class (minor, or major ``NN00``), channel, state and region; and
the same counts for a comparison period (同比: a year earlier; 环比: the period just before).

Counts are absolute and the class breaks fixed (:data:`BREAKS`), so a count has the same colour
in every view, season and district; a difference map uses :data:`DIFF_BREAKS`. Counted from the
counts kept per grid and month (:mod:`gis.cases.counts`): millions of cases are neither read nor
sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal
from gis.cases.counts import count
from gis.errors import InvalidInput

LEVELS = {"district": 6, "street": 9, "community": 12, "unit_grid": 15}
#: the fixed class breaks of the choropleth (a count's class is the last break it reaches)
BREAKS = (1, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
DIFF_BREAKS = (-500, -200, -100, -50, -20, -5, 5, 20, 50, 100, 200, 500)
COMPARE = ("yoy", "prev")


def _year_earlier(t: datetime) -> datetime:
    try:
        return t.replace(year=t.year - 1)
    except ValueError:  # 29 February
        return t.replace(year=t.year - 1, day=28)


def base_period(since: datetime, until: datetime, compare: str) -> tuple[datetime, datetime]:
    """The comparison period: a year earlier (同比) or the period just before (环比)."""
    if compare == "yoy":
        return _year_earlier(since), _year_earlier(until)
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
    periods = [(since, until)]
    if compare:
        a, b = base_period(since, until, compare)
        periods.append((a, b))
    found = count(
        conn, by=str(LEVELS[level]), periods=periods, months=months, class_code=class_code, channel=channel,
        state=state, region=region, who=who,
    )  # fmt: skip
    now = found[0]
    out: dict[str, Any] = {
        "level": level,
        "from": since,
        "to": until,
        "breaks": list(BREAKS),
        "total": sum(now.values()),
    }
    if compare:
        before = found[1]
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
    filters = {"months": months, "class_code": class_code, "channel": channel, "state": state, "region": code}
    per_month = count(conn, by="month", periods=[(since, until)], who=who, **filters)[0]
    per_class = count(conn, by="class", periods=[(since, until)], who=who, **filters)[0]
    ten = sorted(per_class.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    names = dict(
        conn.execute(
            text("SELECT code, minor_name FROM event_class WHERE code = ANY(:c)"), {"c": [c for c, _ in ten]}
        ).all()
    )
    series = [{"month": m, "count": n} for m, n in sorted(per_month.items())]
    top = [{"class": c, "name": names.get(c, ""), "count": n} for c, n in ten]
    return {"code": code, "months": series, "top_classes": top}


def default_period(now: datetime) -> tuple[datetime, datetime]:
    """The last twelve months up to tomorrow."""
    return now - timedelta(days=365), now + timedelta(days=1)
