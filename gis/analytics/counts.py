"""Planners' case counts: per grid of a level in a region, for a period or a season, with the
density, the share, the rank and a comparison (同比 a year earlier, 环比 the period before); a
time series (day, week, month) and a seasonal profile (month of year, day of week, hour of day).

Counts come from :func:`gis.cases.counts.count` (whole months from the kept counts, the rest from
the cases), so they equal a plain count of the cases. Seasons follow the calendar of China time;
a winter belongs to the year of its January and February: winter 2024 is December 2023 to
February 2024. Planners see numbers only, never a case's personal data.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal, area_condition
from gis.cases.counts import CHINA, count
from gis.cases.heat import base_period
from gis.cases.query import case_filters
from gis.errors import InvalidInput
from gis.grids.hierarchy import CODE_LENGTH, LEVEL_ALIASES, check_area

SEASONS = {"spring": (3, 4, 5), "summer": (6, 7, 8), "autumn": (9, 10, 11), "winter": (12, 1, 2)}
COMPARE = ("yoy", "prev")
STEPS = ("day", "week", "month")
PROFILES = ("month", "weekday", "hour")


def season_period(season: str, year: int) -> tuple[datetime, datetime, list[int]]:
    """The season of ``year`` as a period in China time and its months (winter 2024: December
    2023 to the end of February 2024)."""
    if season not in SEASONS:
        raise InvalidInput(f"unknown season {season!r}", field="season", allowed=list(SEASONS))
    if not 1900 <= year <= 2200:
        raise InvalidInput(f"year {year} is out of range", field="year", allowed="1900-2200")
    months = SEASONS[season]
    start_year = year - 1 if season == "winter" else year
    start = datetime(start_year, months[0], 1, tzinfo=CHINA)
    end_month = months[-1] + 1
    end = datetime(year + end_month // 13, (end_month - 1) % 12 + 1, 1, tzinfo=CHINA)
    return start, end, list(months)


def level_number(level: str) -> int:
    if level not in LEVEL_ALIASES:
        raise InvalidInput(f"unknown level {level!r}", field="level", allowed=list(LEVEL_ALIASES))
    return LEVEL_ALIASES[level]


def grid_counts(
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
    """Per grid of ``level`` (in force at the end of the period, inside ``region`` and the
    caller's reach, with no case too): ``count``, ``per_km2``, ``share`` of the total, ``rank`` (1
    the most; ties share a rank), and with ``compare`` the earlier ``base``, ``change`` and
    ``change_pct`` (None from zero)."""
    n = level_number(level)
    if compare is not None and compare not in COMPARE:
        raise InvalidInput(f"unknown comparison {compare!r}", field="compare", allowed=list(COMPARE))
    if region:
        check_area(region, "region")
    periods = [(since, until)] + ([base_period(since, until, compare)] if compare else [])
    found = count(
        conn, by=str(CODE_LENGTH[n]), periods=periods, months=months, class_code=class_code, channel=channel,
        state=state, region=region, who=who,
    )  # fmt: skip
    grids = _grids(conn, n, region, until, who)
    now = found[0]
    total = sum(now.get(g["code"], 0) for g in grids)
    # competition ranks (1, 2, 2, 4): one more than the number of grids counted higher
    rank: dict[int, int] = {}
    for i, c in enumerate(sorted((now.get(g["code"], 0) for g in grids), reverse=True)):
        rank.setdefault(c, i + 1)
    rows = []
    for g in grids:
        c = now.get(g["code"], 0)
        row = {
            "code": g["code"],
            "name": g["name"],
            "count": c,
            "area_km2": round(g["area_m2"] / 1e6, 4),
            "per_km2": round(c / (g["area_m2"] / 1e6), 3) if g["area_m2"] else None,
            "share": round(c / total, 6) if total else 0.0,
            "rank": rank[c],
        }
        if compare:
            b = found[1].get(g["code"], 0)
            row.update(base=b, change=c - b, change_pct=round(100 * (c - b) / b, 1) if b else None)
        rows.append(row)
    rows.sort(key=lambda r: (r["rank"], r["code"]))
    out: dict[str, Any] = {
        "level": level, "region": region, "from": since, "to": until, "months": months, "total": total,
        "grids": rows,
    }  # fmt: skip
    if compare:
        a, b = periods[1]
        out.update(compare=compare, base_from=a, base_to=b, base_total=sum(r["base"] for r in rows))
    return out


_GRIDS = """SELECT g.code, g.name, g.area_m2 FROM grid g WHERE {where} ORDER BY g.code"""


def lattice(level: int, region: str | None, until: datetime, who: Principal | None) -> tuple[str, dict[str, Any]]:
    """The condition on ``grid g`` of an analysis's grids: of ``level``, in force at the period's
    end (the instant before ``until``), inside ``region`` and the caller's reach."""
    where, params = ["g.level = :level", "wangge_valid(g.valid_from, g.valid_to, :at)"], {"level": level}
    params["at"] = until - timedelta(microseconds=1)
    if region:
        where.append("starts_with(g.code, :region)")
        params["region"] = region
    if who is not None:
        scope, p = area_condition(who, "cases:read", {"code": "g.code"})
        where.append(scope)
        params.update(p)
    return " AND ".join(where), params


def _grids(conn: Connection, level: int, region: str | None, until: datetime, who: Principal | None) -> list[dict]:
    where, params = lattice(level, region, until, who)
    return [dict(r) for r in conn.execute(text(_GRIDS.format(where=where)), params).mappings()]


_RAW = {
    "day": "to_char(c.reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')",
    "week": "to_char(date_trunc('week', c.reported_at AT TIME ZONE 'Asia/Shanghai'), 'IYYY-\"W\"IW')",
    "weekday": "extract(isodow FROM c.reported_at AT TIME ZONE 'Asia/Shanghai')::int",
    "hour": "extract(hour FROM c.reported_at AT TIME ZONE 'Asia/Shanghai')::int",
}


def _raw(conn: Connection, key: str, since: datetime, until: datetime, who: Principal | None, **filters: Any) -> dict:
    region = filters.pop("region", None)
    where, params = case_filters(who, start=since, end=until, grid=region, grid_field="region", **filters)
    sql = f'SELECT {_RAW[key]} AS k, count(*) FROM "case" c WHERE {" AND ".join(where)} GROUP BY 1'
    return dict(conn.execute(text(sql), params).all())


def series(
    conn: Connection,
    *,
    step: str,
    since: datetime,
    until: datetime,
    who: Principal | None = None,
    **filters: Any,
) -> list[dict[str, Any]]:
    """Cases per ``step`` (``day``, ``week`` as ISO ``YYYY-Www``, ``month``) in China time over
    the period, for a region (any grid, or the caller's whole reach) under the filters; steps
    without a case are listed with 0 between the first and the last step of the period."""
    if step not in STEPS:
        raise InvalidInput(f"unknown step {step!r}", field="step", allowed=list(STEPS))
    if step == "month":
        found = count(conn, by="month", periods=[(since, until)], who=who, **filters)[0]
    else:
        found = _raw(conn, step, since, until, who, **filters)
    return [{"period": k, "count": found.get(k, 0)} for k in _steps(step, since, until)]


def _steps(step: str, since: datetime, until: datetime) -> list[str]:
    a, b = since.astimezone(CHINA), (until - timedelta(microseconds=1)).astimezone(CHINA)
    out: list[str] = []
    if step == "month":
        m, last = a.year * 12 + a.month - 1, b.year * 12 + b.month - 1
        return [f"{k // 12:04d}-{k % 12 + 1:02d}" for k in range(m, last + 1)]
    day = a.date()
    while day <= b.date():
        label = day.isoformat() if step == "day" else f"{day.isocalendar()[0]:04d}-W{day.isocalendar()[1]:02d}"
        if not out or out[-1] != label:
            out.append(label)
        day += timedelta(days=1)
    return out


def profile(
    conn: Connection,
    *,
    by: str,
    since: datetime,
    until: datetime,
    who: Principal | None = None,
    **filters: Any,
) -> list[dict[str, Any]]:
    """The seasonal profile: cases per month of the year (1-12), day of the week (1 Monday - 7
    Sunday) or hour of the day (0-23, China time), every bucket listed."""
    if by not in PROFILES:
        raise InvalidInput(f"unknown profile {by!r}", field="by", allowed=list(PROFILES))
    if by == "month":
        per_month = count(conn, by="month", periods=[(since, until)], who=who, **filters)[0]
        found: dict[int, int] = {}
        for ym, n in per_month.items():
            found[int(ym[5:7])] = found.get(int(ym[5:7]), 0) + n
        buckets = range(1, 13)
    else:
        found = _raw(conn, by, since, until, who, **filters)
        buckets = range(1, 8) if by == "weekday" else range(24)
    return [{by: k, "count": found.get(k, 0)} for k in buckets]
