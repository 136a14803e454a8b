"""Counting cases fast: whole months from the counts kept as cases are written (``case_count``,
migration 0017), the days at the edges of a period from the cases themselves.

``count`` groups by grid (at a level), month or event class under the case list's filters, for
one or several periods in a single scan of the kept counts (a comparison costs one read, not two).
A caller whose reach is not only areas (a responsible unit, a citizen's own cases) is counted
from the cases: the kept counts do not know units or submitters, and such callers see few cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal
from gis.cases.query import OPEN, case_filters, class_condition
from gis.grids.hierarchy import CHAIN_COLUMN, check_area

CHINA = ZoneInfo("Asia/Shanghai")
DEPTHS = (6, 9, 12, 15)
Period = tuple[datetime | None, datetime | None]

# what ``by`` groups on: kept counts (``r``, grouped first by these columns, then by the outer
# key) and cases (``c``)
_KEPT_INNER = {"month": "r.month", "class": "r.class_code"}
_KEPT_OUTER = {"month": "to_char(make_date(k / 12, k % 12 + 1, 1), 'YYYY-MM')", "class": "k"}
_CASES = {"month": "to_char(c.reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')", "class": "c.class_code"}


def month_number(t: datetime) -> int:
    """``year * 12 + month - 1`` of ``t`` in China time (the database's ``wangge_month``)."""
    t = t.astimezone(CHINA)
    return t.year * 12 + t.month - 1


def month_start(n: int) -> datetime:
    return datetime(n // 12, n % 12 + 1, 1, tzinfo=CHINA)


def split(since: datetime | None, until: datetime | None) -> tuple[tuple[int | None, int | None] | None, list[Period]]:
    """The whole months inside ``[since, until)`` (numbers, ``[m0, m1)``; ``None`` for an open end)
    and the pieces left at the edges, to be counted from the cases, each within one month."""
    m0 = None if since is None else month_number(since) + (month_start(month_number(since)) < since)
    m1 = None if until is None else month_number(until)
    if m0 is not None and m1 is not None and m0 >= m1:  # no whole month: one, or two across a boundary
        assert since is not None and until is not None
        cut = month_start(m1)
        return None, [(since, cut), (cut, until)] if since < cut < until else [(since, until)]
    edges: list[Period] = []
    if m0 is not None and since is not None and month_start(m0) > since:
        edges.append((since, month_start(m0)))
    if m1 is not None and until is not None and month_start(m1) < until:
        edges.append((month_start(m1), until))
    return (m0, m1), edges


#: the kept counts' column of each grid code length
LEVEL_COLUMN = {6: "r.district", 9: "r.street", 12: "r.community", 15: "r.unit"}


def codes_condition(codes: Sequence[str], name: str) -> tuple[str, dict[str, Any]]:
    """A condition on the kept counts ``r`` keeping the rows in any of ``codes`` (grids of any
    level, each compared with its own level's column, as the case list does). Values bound."""
    by_length: dict[int, list[int]] = {}
    for code in codes:
        by_length.setdefault(len(code), []).append(int(code))
    parts = [f"{LEVEL_COLUMN[n]} = ANY(CAST(:{name}_{n} AS bigint[]))" for n in sorted(by_length)]
    params = {f"{name}_{n}": v for n, v in by_length.items()}
    return ("(" + " OR ".join(parts) + ")" if parts else "FALSE"), params


def kept_reach(who: Principal | None) -> tuple[str, dict[str, Any]] | None:
    """The caller's reach on the kept counts (its area grants, as ``area_condition`` compares them
    with the cases' columns), or None when it is not only areas (units, own reports: counted from
    the cases, which know them)."""
    if who is None:
        return "TRUE", {}
    permission = "cases:read"
    if not who.can(permission):
        return "FALSE", {}
    if who.units_for(permission) or who.own_worker_for(permission) or who.submitter_for(permission):
        return None
    areas = who.areas_for(permission)
    return ("TRUE", {}) if areas is None else codes_condition(areas, "acc")


def count(
    conn: Connection,
    *,
    by: str,
    periods: Sequence[Period],
    months: list[int] | None = None,
    class_code: str | None = None,
    channel: str | None = None,
    state: str | None = None,
    region: str | None = None,
    codes: Sequence[str] | None = None,
    who: Principal | None = None,
) -> list[dict[str, int]]:
    """Case counts per group, one dict per period. ``by``: ``"month"`` (``YYYY-MM``), ``"class"``,
    or a grid code length (6, 9, 12, 15: grids of that level, cases outside any left out).
    ``region``: one grid; ``codes``: only these grids (of any level). Filters as the case list."""
    level = int(by) if by.isdigit() else None
    if level is not None and level not in DEPTHS:
        raise ValueError(by)
    filters = {"months": months, "class_code": class_code, "channel": channel, "state": state}
    # the case list's checks (a bad value is a 400 naming it) and the conditions on cases
    case_filters(who, grid=region, grid_field="region", **filters)
    reach = kept_reach(who)
    out: list[dict[str, int]] = [{} for _ in periods]
    pieces: list[tuple[int, Period]] = []
    spans: list[tuple[int, tuple[int | None, int | None]]] = []
    for i, (since, until) in enumerate(periods):
        if reach is None:
            pieces.append((i, (since, until)))
            continue
        whole, edges = split(since, until)
        # an edge lies within one month: none to count when the season leaves that month out
        pieces.extend((i, e) for e in edges if not months or e[0].astimezone(CHINA).month in months)
        if whole is not None:
            spans.append((i, whole))
    if spans and reach is not None:
        _add(out, _kept(conn, by, level, spans, reach, filters, region, codes))
    for i, (since, until) in pieces:
        _add(out, [{}] * i + [_cases(conn, by, level, since, until, filters, region, codes, who)])
    return [{k: n for k, n in d.items() if n} for d in out]


def _add(into: list[dict[str, int]], more: list[dict[str, int]]) -> None:
    for d, m in zip(into, more, strict=False):
        for k, n in m.items():
            d[k] = d.get(k, 0) + n


def _kept(conn, by, level, spans, reach, filters, region, codes) -> list[dict[str, int]]:
    where = [reach[0]]
    params = dict(reach[1])
    if filters["state"] == OPEN:
        where.append("r.state <> 'closed'")
    elif filters["state"]:
        where.append("r.state = :state")
        params["state"] = filters["state"]
    if filters["channel"]:
        where.append("r.channel = :channel")
        params["channel"] = filters["channel"]
    if filters["class_code"]:
        where.append(class_condition("r", filters["class_code"]))
        params["cls"] = filters["class_code"]
    season = set(filters["months"] or range(1, 13))
    if filters["months"]:
        where.append("r.month % 12 + 1 = ANY(:months)")
        params["months"] = sorted(season)
    if region:
        cond, p = codes_condition([region], "region")
        where.append(cond)
        params.update(p)
    # no class, channel or state asked about: the table without them (a third of the rows)
    table = (
        "case_count"
        if by == "class" or any(filters[k] for k in ("class_code", "channel", "state"))
        else "case_count_total"
    )
    if codes is not None:  # a few grids (a tile's), found by their level's index
        cond, p = codes_condition(codes, "only")
        where.append(cond)
        params.update(p)
    if level is not None:
        where.append(f"{LEVEL_COLUMN[level]} <> 0")
    sums, any_span = [], []
    for j, (_, (m0, m1)) in enumerate(spans):
        if m0 is not None and m1 is not None:
            # the months themselves, so the index on month finds them (a season is a few of them)
            cond = f"r.month = ANY(:m_{j})"
            params[f"m_{j}"] = [m for m in range(m0, m1) if m % 12 + 1 in season]
        else:
            cond = " AND ".join([f"r.month >= :m0_{j}"] * (m0 is not None) + [f"r.month < :m1_{j}"] * (m1 is not None))
            params.update({f"m0_{j}": m0, f"m1_{j}": m1})
        sums.append(f"sum(r.n) FILTER (WHERE {cond or 'TRUE'}) AS p{j}")
        any_span.append(f"({cond or 'TRUE'})")
    if all(f"m_{j}" in params for j in range(len(spans))):
        where.append("r.month = ANY(:m_all)")
        params["m_all"] = sorted({m for j in range(len(spans)) for m in params[f"m_{j}"]})
    else:
        where.append("(" + " OR ".join(any_span) + ")")
    if level is not None:
        inner, outer = LEVEL_COLUMN[level], "k::text"
    else:
        inner, outer = _KEPT_INNER[by], _KEPT_OUTER[by]
    outer_sums = ", ".join(f"sum(p{j})" for j in range(len(spans)))
    sql = f"""SELECT {outer} AS key, {outer_sums}
FROM (SELECT {inner} AS k, {", ".join(sums)} FROM {table} r WHERE {" AND ".join(where)} GROUP BY 1) per
GROUP BY 1"""
    result: list[dict[str, int]] = [{} for _ in range(max(i for i, _ in spans) + 1)]
    for row in conn.execute(text(sql), params).all():
        for j, (i, _) in enumerate(spans):
            if row[1 + j]:
                result[i][row[0]] = result[i].get(row[0], 0) + int(row[1 + j])
    return result


def _cases(conn, by, level, since, until, filters, region, codes, who) -> dict[str, int]:
    where, params = case_filters(who, start=since, end=until, grid=region, grid_field="region", **filters)
    key = f"c.{CHAIN_COLUMN[level]}" if level is not None else _CASES[by]
    if level is not None:
        where.append(f"{key} IS NOT NULL")
    if codes is not None:
        by_length: dict[int, list[str]] = {}
        for code in codes:
            by_length.setdefault(len(check_area(code, "codes")), []).append(code)
        where.append(
            "(" + " OR ".join(f"c.{CHAIN_COLUMN[n]} = ANY(:only_{n})" for n in by_length) + ")"
            if by_length
            else "FALSE"
        )
        params.update({f"only_{n}": v for n, v in by_length.items()})
    sql = f'SELECT {key}, count(*) FROM "case" c WHERE {" AND ".join(where)} GROUP BY 1'
    return {k: n for k, n in conn.execute(text(sql), params).all()}
